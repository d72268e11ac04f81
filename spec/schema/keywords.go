package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

// The keywords of JSON Schema draft 2020-12 (every vocabulary of its
// metaschema). A keyword the draft does not define is no error to a JSON
// Schema validator, which ignores it: `requried: [email]` silently
// requires nothing. Membrane reports it instead.
var (
	// schemaKeywords take a subschema.
	schemaKeywords = []string{"items", "contains", "additionalProperties", "propertyNames", "if", "then", "else", "not",
		"unevaluatedItems", "unevaluatedProperties", "contentSchema"}
	// schemaMapKeywords take an object of subschemas.
	schemaMapKeywords = []string{"properties", "patternProperties", "dependentSchemas", "$defs"}
	// schemaListKeywords take a list of subschemas.
	schemaListKeywords = []string{"prefixItems", "allOf", "anyOf", "oneOf"}
	// valueKeywords take anything else: names, numbers, data.
	valueKeywords = []string{"$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary", "$comment",
		"type", "const", "enum", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
		"maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
		"maxProperties", "minProperties", "required", "dependentRequired",
		"title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples",
		"format", "contentEncoding", "contentMediaType"}
	allSchemaKeywords = slices.Concat(schemaKeywords, schemaMapKeywords, schemaListKeywords, valueKeywords)
)

// olderKeywords are keywords of earlier drafts, with what 2020-12 says
// instead.
var olderKeywords = map[string]string{
	"definitions":     "$defs (a $ref then reads #/$defs/name)",
	"dependencies":    "dependentRequired (for a list of names) or dependentSchemas (for a schema)",
	"$recursiveRef":   "$dynamicRef",
	"additionalItems": "items (next to prefixItems)",
}

// CheckKeywords reports, at its key, every keyword of an inline JSON
// Schema (or of a merge patch of one) that draft 2020-12 does not define,
// with the keyword it most likely meant. Keywords that start with "x-" are
// extensions and pass. A null (a merge patch removing a keyword) passes
// too. It reports whether it found any.
func CheckKeywords(s *tree.Value, diags *diag.List) bool {
	found := false
	checkKeywords(s, diags, &found)
	return found
}

func checkKeywords(s *tree.Value, diags *diag.List, found *bool) {
	if s == nil || s.Kind != tree.Map {
		return // true, false, null or not a schema at all (the metaschema says so)
	}
	for _, f := range s.Fields {
		switch k := f.Key; {
		case slices.Contains(schemaKeywords, k):
			checkKeywords(f.Value, diags, found)
		case slices.Contains(schemaMapKeywords, k):
			if f.Value.Kind == tree.Map {
				for _, sub := range f.Value.Fields {
					checkKeywords(sub.Value, diags, found)
				}
			}
		case slices.Contains(schemaListKeywords, k):
			for _, it := range f.Value.Items {
				checkKeywords(it, diags, found)
			}
		case slices.Contains(valueKeywords, k), strings.HasPrefix(k, "x-"):
		default:
			*found = true
			diags.Errorf(f.KeyPos, "unknown-keyword", "%s", unknownKeywordMessage(k, f.Value))
		}
	}
}

func unknownKeywordMessage(k string, v *tree.Value) string {
	if instead, ok := olderKeywords[k]; ok {
		return fmt.Sprintf("%s is not a keyword of JSON Schema 2020-12, which Membrane reads; use %s", quote(k), instead)
	}
	msg := fmt.Sprintf("%s is not a JSON Schema keyword, so a validator would ignore it", quote(k))
	switch c := suggest.Closest(k, allSchemaKeywords); {
	case c != "":
		return msg + "; did you mean " + quote(c) + "?"
	case v.Get("type") != nil || v.Get("$ref") != nil:
		// A property schema one level too far out (a line indented less
		// than its siblings under properties).
		return msg + "; if it is a property, indent it under properties"
	}
	return msg + "; fix its spelling, or name an extension x-" + k
}

func quote(s string) string { return `"` + s + `"` }
