package prismtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Merge joins OpenAPI descriptions (JSON or YAML) of one vendor into one
// JSON description: the first file's info and servers, every file's paths
// and components. A component a later file defines differently under the
// same name is renamed in that file (Name__2, its $refs and security
// requirements following), so each path keeps the schemas its own file
// gives it. The same path in two files is an error: which one to serve
// would be a guess.
func Merge(files ...string) ([]byte, error) {
	var out map[string]any
	var errs []error
	owner := map[string]string{} // "paths//x" → file
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("prismtest: %w", err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("prismtest: %s: %w", f, err)
		}
		if out == nil {
			out = doc
			paths, _ := doc["paths"].(map[string]any)
			for p := range paths {
				owner["paths/"+p] = f
			}
			continue
		}
		comps, _ := doc["components"].(map[string]any)
		outComps := section(out, "components")
		refs := map[string]string{}    // "#/components/schemas/X" → renamed ref
		schemes := map[string]string{} // security scheme renames
		var added [][2]string          // kind, name: this file's, to rewrite
		for _, kind := range slices.Sorted(maps.Keys(comps)) {
			m, _ := comps[kind].(map[string]any)
			dst := section(outComps, kind)
			for _, name := range slices.Sorted(maps.Keys(m)) {
				prev, ok := dst[name]
				if !ok {
					dst[name] = m[name]
					added = append(added, [2]string{kind, name})
					continue
				}
				if reflect.DeepEqual(prev, m[name]) {
					continue
				}
				renamed := fmt.Sprintf("%s__%d", name, i+1)
				dst[renamed] = m[name]
				added = append(added, [2]string{kind, renamed})
				refs["#/components/"+kind+"/"+name] = "#/components/" + kind + "/" + renamed
				if kind == "securitySchemes" {
					schemes[name] = renamed
				}
			}
		}
		paths, _ := doc["paths"].(map[string]any)
		outPaths := section(out, "paths")
		for _, p := range slices.Sorted(maps.Keys(paths)) {
			if prev, ok := owner["paths/"+p]; ok {
				errs = append(errs, fmt.Errorf("prismtest: path %s is in both %s and %s", p, prev, f))
				continue
			}
			owner["paths/"+p] = f
			outPaths[p] = rename(paths[p], refs, schemes)
		}
		for _, a := range added {
			dst := section(outComps, a[0])
			dst[a[1]] = rename(dst[a[1]], refs, nil)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// rename rewrites $refs, and the scheme names of security requirements.
func rename(v any, refs, schemes map[string]string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "$ref" {
				if s, ok := x.(string); ok && refs[s] != "" {
					v[k] = refs[s]
				}
				continue
			}
			if k == "security" && len(schemes) > 0 {
				if reqs, ok := x.([]any); ok {
					for _, r := range reqs {
						if m, ok := r.(map[string]any); ok {
							for name, to := range schemes {
								if scopes, ok := m[name]; ok {
									delete(m, name)
									m[to] = scopes
								}
							}
						}
					}
				}
				continue
			}
			v[k] = rename(x, refs, schemes)
		}
	case []any:
		for i, x := range v {
			v[i] = rename(x, refs, schemes)
		}
	}
	return v
}

func section(m map[string]any, key string) map[string]any {
	s, ok := m[key].(map[string]any)
	if !ok {
		s = map[string]any{}
		m[key] = s
	}
	return s
}

// Subset keeps, of a JSON description, the paths that start with one of
// prefixes (a prefix ending in "/" or equal to the whole path) and the
// components they reach through $ref, unchanged: Prism checks those paths
// exactly as the whole description would, and loads a large description
// (Klaviyo's 3 MB) in a fraction of the time.
func Subset(doc []byte, prefixes []string) ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("prismtest: %w", err)
	}
	paths, _ := d["paths"].(map[string]any)
	kept := map[string]any{}
	for p, v := range paths {
		for _, pre := range prefixes {
			if p == pre || strings.HasPrefix(p, strings.TrimSuffix(pre, "/")+"/") {
				kept[p] = v
				break
			}
		}
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("prismtest: no path of the description starts with %v", prefixes)
	}
	d["paths"] = kept
	comps, _ := d["components"].(map[string]any)
	reached := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && strings.HasPrefix(ref, "#/components/") {
				// A ref may point inside a component (PagerDuty:
				// #/components/responses/Conflict/content/...): the
				// whole component is kept.
				parts := strings.SplitN(strings.TrimPrefix(ref, "#/components/"), "/", 3)
				if len(parts) >= 2 {
					top := "#/components/" + parts[0] + "/" + parts[1]
					if !reached[top] {
						reached[top] = true
						if m, ok := comps[parts[0]].(map[string]any); ok {
							walk(m[unescapePointer(parts[1])])
						}
					}
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(kept)
	out := map[string]any{}
	for kind, v := range comps {
		m, _ := v.(map[string]any)
		keep := map[string]any{}
		for name, c := range m {
			// Security schemes are named by requirements, not $refs.
			if kind == "securitySchemes" || reached["#/components/"+kind+"/"+escapePointer(name)] {
				keep[name] = c
			}
		}
		if len(keep) > 0 {
			out[kind] = keep
		}
	}
	d["components"] = out
	return json.Marshal(d)
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
