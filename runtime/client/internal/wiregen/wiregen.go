// Package wiregen writes the Go client's wire types (runtime/client's
// types.go) from the types the server encodes and decodes: the store's,
// the engine's, the connection service's, the API's and the diagnostics'.
//
// It reads the server's packages as source (go/parser, no type checking,
// so that generating builds nothing) and copies, for each type of the
// table in table.go, the fields JSON sees, in their order, with their json
// tags. Field types become what a client holds without importing the
// server: a type of the table its client name, a named string type string,
// a struct listed as inline an anonymous struct of its fields, http.Header
// a map, and a type that encodes itself what the table maps it to. Docs are
// the source's unless the table gives the client's own. A field type the
// generator cannot place, or a type that encodes itself unmapped, is an
// error: a change of the server either reaches the client or fails go
// generate, and the client's test fails while types.go is stale.
package wiregen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/build"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Module is the module path of Membrane.
const Module = "github.com/membrane-dev/membrane"

// Output is the generated file, relative to the module root.
const Output = "runtime/client/types.go"

// Type is one client type of the table.
type Type struct {
	// Name is the client's name of the type.
	Name string
	// From is the source type: a module-relative package path and a type
	// name, "runtime/store.Connection".
	From string
	// Doc replaces the source type's doc comment (lines without "// ").
	Doc string
	// Fields tune the source's fields, by their Go name.
	Fields map[string]Field
	// Extra are fields of the client only, after the source's.
	Extra []Extra
	// OwnJSON says that the source type encodes itself (MarshalJSON) and
	// that the client's type does too, in a file written by hand.
	OwnJSON bool
}

// Field tunes one source field.
type Field struct {
	// Name renames the field in the client.
	Name string
	// Type replaces the field's type, written as in the client.
	Type string
	// Tag replaces the field's json tag ("warnings,omitempty").
	Tag string
	// Doc replaces the field's doc comment; "-" drops it.
	Doc string
	// Keep copies a field JSON does not see (json:"-").
	Keep bool
}

// Extra is a field the client has and the source has not.
type Extra struct {
	Name, Type, Tag, Doc string
}

// external maps the types of other modules a wire type may hold to the
// client's. A type absent here is an error.
var external = map[string]string{
	"time.Time":                "time.Time",
	"time.Duration":            "time.Duration",
	"encoding/json.RawMessage": "json.RawMessage",
	"net/http.Header":          "map[string][]string",
}

// clientImports are the packages the client's types may use, by the
// qualifier that shows one is used.
var clientImports = map[string]string{"time.": "time", "json.": "encoding/json"}

// Generate reads the source types under root (the module root) and returns
// the content of types.go.
func Generate(root string) ([]byte, error) {
	return generate(root, config{types: table, mapped: mapped, inline: inline})
}

// config is what the generator copies, and how.
type config struct {
	types  []Type
	mapped map[string]string
	inline map[string]Type
}

func generate(root string, cfg config) ([]byte, error) {
	g := &generator{root: root, cfg: cfg, pkgs: map[string]*pkg{}, bySource: map[string]*Type{}}
	for i := range cfg.types {
		g.bySource[cfg.types[i].From] = &cfg.types[i]
	}
	return g.run()
}

// FindRoot returns the directory holding the module's go.mod: dir or one
// of its parents.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module "+Module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("wiregen: no go.mod of %s above the working directory", Module)
		}
		dir = parent
	}
}

type generator struct {
	root     string
	cfg      config
	pkgs     map[string]*pkg
	bySource map[string]*Type
}

// pkg is one package of the module, read as source.
type pkg struct {
	path    string // module-relative
	types   map[string]*decl
	methods map[string][]string // by receiver type name
}

type decl struct {
	pkg  *pkg
	file *ast.File
	spec *ast.TypeSpec
	doc  *ast.CommentGroup
}

func (g *generator) load(rel string) (*pkg, error) {
	if p, ok := g.pkgs[rel]; ok {
		return p, nil
	}
	dir := filepath.Join(g.root, filepath.FromSlash(rel))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wiregen: package %s: %w; if it moved, update the table in runtime/client/internal/wiregen", rel, err)
	}
	p := &pkg{path: rel, types: map[string]*decl{}, methods: map[string][]string{}}
	fset := token.NewFileSet()
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, err := build.Default.MatchFile(dir, name); err != nil || !ok {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("wiregen: %w", err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				for _, s := range d.Specs {
					ts, ok := s.(*ast.TypeSpec)
					if !ok {
						continue
					}
					doc := ts.Doc
					if doc == nil && len(d.Specs) == 1 {
						doc = d.Doc
					}
					p.types[ts.Name.Name] = &decl{pkg: p, file: f, spec: ts, doc: doc}
				}
			case *ast.FuncDecl:
				if d.Recv != nil && len(d.Recv.List) == 1 {
					if recv := baseName(d.Recv.List[0].Type); recv != "" {
						p.methods[recv] = append(p.methods[recv], d.Name.Name)
					}
				}
			}
		}
	}
	g.pkgs[rel] = p
	return p, nil
}

// baseName is the type name of a receiver: T, *T, T[X].
func baseName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return baseName(e.X)
	case *ast.IndexExpr:
		return baseName(e.X)
	case *ast.IndexListExpr:
		return baseName(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}

// lookup finds a source type by its qualified name
// ("runtime/store.Connection"), following aliases.
func (g *generator) lookup(qname string) (*decl, error) {
	i := strings.LastIndex(qname, ".")
	if i < 0 {
		return nil, fmt.Errorf("wiregen: %q is not package.Type", qname)
	}
	p, err := g.load(qname[:i])
	if err != nil {
		return nil, err
	}
	d := p.types[qname[i+1:]]
	if d == nil {
		return nil, fmt.Errorf("wiregen: %s has no type %s; if it moved or was renamed, update the table in runtime/client/internal/wiregen", p.path, qname[i+1:])
	}
	if d.spec.Assign.IsValid() {
		target, err := g.named(d, d.spec.Type)
		if err != nil {
			return nil, err
		}
		if target == "" {
			return nil, fmt.Errorf("wiregen: %s is an alias of a type outside the module", qname)
		}
		return g.lookup(target)
	}
	return d, nil
}

// qualified returns the qualified name of a type declaration, following
// aliases.
func (g *generator) qualified(d *decl, e ast.Expr) (string, error) {
	name, err := g.named(d, e)
	if err != nil || name == "" {
		return name, err
	}
	nd, err := g.lookup(name)
	if err != nil {
		return "", err
	}
	return nd.pkg.path + "." + nd.spec.Name.Name, nil
}

// named returns the qualified name ("runtime/store.Connection") of a type
// expression that names a type of the module, or "".
func (g *generator) named(d *decl, e ast.Expr) (string, error) {
	switch e := e.(type) {
	case *ast.Ident:
		if _, ok := d.pkg.types[e.Name]; ok {
			return d.pkg.path + "." + e.Name, nil
		}
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return "", nil
		}
		imp, err := importPath(d.file, x.Name)
		if err != nil {
			return "", err
		}
		if rel, ok := strings.CutPrefix(imp, Module+"/"); ok {
			return rel + "." + e.Sel.Name, nil
		}
	}
	return "", nil
}

// importPath is the path a file imports under name.
func importPath(f *ast.File, name string) (string, error) {
	for _, s := range f.Imports {
		p, _ := strconv.Unquote(s.Path.Value)
		n := path.Base(p)
		if len(n) > 1 && n[0] == 'v' && strings.Trim(n[1:], "0123456789") == "" {
			n = path.Base(path.Dir(p)) // a major version suffix
		}
		if s.Name != nil {
			n = s.Name.Name
		}
		if n == name {
			return p, nil
		}
	}
	return "", fmt.Errorf("wiregen: package %s: a file imports nothing named %s", f.Name.Name, name)
}

func (g *generator) run() ([]byte, error) {
	var body bytes.Buffer
	for i := range g.cfg.types {
		if err := g.writeType(&body, &g.cfg.types[i]); err != nil {
			return nil, err
		}
	}
	var src bytes.Buffer
	src.WriteString("// Code generated by wiregen from the server's types; DO NOT EDIT.\n")
	src.WriteString("// Edit the source types, or the table of runtime/client/internal/wiregen,\n")
	src.WriteString("// and run go generate ./runtime/client/...\n\n")
	src.WriteString("package client\n\n")
	var imports []string
	for prefix, imp := range clientImports {
		if bytes.Contains(body.Bytes(), []byte(prefix)) {
			imports = append(imports, strconv.Quote(imp))
		}
	}
	slices.Sort(imports)
	if len(imports) > 0 {
		src.WriteString("import (\n" + strings.Join(imports, "\n") + "\n)\n\n")
	}
	src.Write(body.Bytes())
	out, err := format.Source(src.Bytes())
	if err != nil {
		return nil, fmt.Errorf("wiregen: the generated source does not parse: %w\n%s", err, src.Bytes())
	}
	return out, nil
}

func (g *generator) writeType(w *bytes.Buffer, t *Type) error {
	d, err := g.lookup(t.From)
	if err != nil {
		return err
	}
	st, ok := d.spec.Type.(*ast.StructType)
	if !ok {
		return fmt.Errorf("wiregen: %s is not a struct", t.From)
	}
	if err := g.checkOwnJSON(d, t.OwnJSON); err != nil {
		return err
	}
	doc := t.Doc
	if doc == "" {
		doc = rename(d.doc.Text(), d.spec.Name.Name, t.Name)
	}
	if doc == "" {
		return fmt.Errorf("wiregen: %s has no doc comment; write one there or in the table", t.From)
	}
	writeDoc(w, "", doc)
	fmt.Fprintf(w, "type %s", t.Name)
	params := map[string]bool{}
	if tp := d.spec.TypeParams; tp != nil {
		var ps []string
		for _, f := range tp.List {
			var names []string
			for _, n := range f.Names {
				names = append(names, n.Name)
				params[n.Name] = true
			}
			c, err := g.clientType(d, f.Type, params, t.From)
			if err != nil {
				return err
			}
			ps = append(ps, strings.Join(names, ", ")+" "+c)
		}
		fmt.Fprintf(w, "[%s]", strings.Join(ps, ", "))
	}
	w.WriteString(" struct {\n")
	if err := g.writeStruct(w, d, st, t, params); err != nil {
		return err
	}
	for _, x := range t.Extra {
		writeDoc(w, "\t", x.Doc)
		fmt.Fprintf(w, "\t%s %s `json:%q`\n", x.Name, x.Type, x.Tag)
	}
	w.WriteString("}\n\n")
	return nil
}

// writeStruct writes the fields of a source struct and checks that every
// field the table tunes is one of them.
func (g *generator) writeStruct(w *bytes.Buffer, d *decl, st *ast.StructType, t *Type, params map[string]bool) error {
	used := map[string]bool{}
	if err := g.writeFields(w, d, st, t, params, used); err != nil {
		return err
	}
	for name := range t.Fields {
		if !used[name] {
			return fmt.Errorf("wiregen: the table tunes %s.%s, which is not a field of %s.%s", t.Name, name, d.pkg.path, d.spec.Name.Name)
		}
	}
	return nil
}

// checkOwnJSON refuses a type that encodes itself unless own says the
// client's does too, and own for a type that does not.
func (g *generator) checkOwnJSON(d *decl, own bool) error {
	custom := slices.ContainsFunc(d.pkg.methods[d.spec.Name.Name], func(m string) bool {
		return m == "MarshalJSON" || m == "UnmarshalJSON" || m == "MarshalText" || m == "UnmarshalText"
	})
	name := d.pkg.path + "." + d.spec.Name.Name
	switch {
	case custom && !own:
		return fmt.Errorf("wiregen: %s encodes itself (a MarshalJSON or MarshalText method): map it to a client type in wiregen's table, or write the client's encoding by hand and set OwnJSON", name)
	case !custom && own:
		return fmt.Errorf("wiregen: the table says %s encodes itself, but it has no MarshalJSON", name)
	}
	return nil
}

// writeFields writes the fields JSON sees of a source struct. The fields
// of an embedded struct that is not a client type are written in place, as
// encoding/json flattens them.
func (g *generator) writeFields(w *bytes.Buffer, d *decl, st *ast.StructType, t *Type, params, used map[string]bool) error {
	where := d.pkg.path + "." + d.spec.Name.Name
	for _, f := range st.Fields.List {
		tag := ""
		if f.Tag != nil {
			s, _ := strconv.Unquote(f.Tag.Value)
			tag = reflect.StructTag(s).Get("json")
		}
		if len(f.Names) == 0 { // embedded
			if tag != "" {
				return fmt.Errorf("wiregen: %s: an embedded field with a json tag is not supported", where)
			}
			name, err := g.qualified(d, f.Type)
			if err != nil {
				return err
			}
			if name == "" {
				return fmt.Errorf("wiregen: %s embeds %s, which is not a type of the module", where, exprString(f.Type))
			}
			if ct := g.bySource[name]; ct != nil {
				writeDoc(w, "\t", f.Doc.Text())
				fmt.Fprintf(w, "\t%s\n", ct.Name)
				continue
			}
			ed, err := g.lookup(name)
			if err != nil {
				return err
			}
			est, ok := ed.spec.Type.(*ast.StructType)
			if !ok {
				return fmt.Errorf("wiregen: %s embeds %s, which is not a struct", where, name)
			}
			if err := g.checkOwnJSON(ed, false); err != nil {
				return err
			}
			if err := g.writeFields(w, ed, est, t, params, used); err != nil {
				return err
			}
			continue
		}
		for _, n := range f.Names {
			opt, tuned := t.Fields[n.Name]
			if tuned {
				used[n.Name] = true
			}
			if !n.IsExported() || (tag == "-" && !opt.Keep) {
				continue
			}
			typ := opt.Type
			if typ == "" {
				var err error
				if typ, err = g.clientType(d, f.Type, params, where+"."+n.Name); err != nil {
					return err
				}
			}
			doc := f.Doc.Text()
			name := n.Name
			if opt.Name != "" {
				name = opt.Name
				doc = rename(doc, n.Name, name)
			}
			switch opt.Doc {
			case "":
			case "-":
				doc = ""
			default:
				doc = opt.Doc
			}
			if opt.Tag != "" {
				tag = opt.Tag
			}
			writeDoc(w, "\t", doc)
			fmt.Fprintf(w, "\t%s %s", name, typ)
			if f.Tag != nil || opt.Tag != "" {
				fmt.Fprintf(w, " `json:%q`", tag)
			}
			if c := f.Comment.Text(); c != "" {
				fmt.Fprintf(w, " // %s", strings.TrimSpace(c))
			}
			w.WriteString("\n")
		}
	}
	return nil
}

// clientType writes a source field's type as the client's.
func (g *generator) clientType(d *decl, e ast.Expr, params map[string]bool, where string) (string, error) {
	switch e := e.(type) {
	case *ast.Ident:
		if params[e.Name] || isBuiltin(e.Name) {
			return e.Name, nil
		}
		return g.namedType(d, e, where)
	case *ast.SelectorExpr:
		name, err := g.named(d, e)
		if err != nil {
			return "", err
		}
		if name != "" {
			return g.namedType(d, e, where)
		}
		imp, err := importPath(d.file, e.X.(*ast.Ident).Name)
		if err != nil {
			return "", err
		}
		c, ok := external[imp+"."+e.Sel.Name]
		if !ok {
			return "", fmt.Errorf("wiregen: %s: %s.%s has no client type; add it to wiregen's external", where, imp, e.Sel.Name)
		}
		return c, nil
	case *ast.StarExpr:
		x, err := g.clientType(d, e.X, params, where)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(x, "json.RawMessage") || strings.HasPrefix(x, "map[") || strings.HasPrefix(x, "[]") {
			return x, nil // nil-able already: a pointer adds nothing
		}
		return "*" + x, nil
	case *ast.ArrayType:
		if e.Len != nil {
			return "", fmt.Errorf("wiregen: %s: arrays are not supported", where)
		}
		x, err := g.clientType(d, e.Elt, params, where)
		return "[]" + x, err
	case *ast.MapType:
		k, err := g.clientType(d, e.Key, params, where)
		if err != nil {
			return "", err
		}
		v, err := g.clientType(d, e.Value, params, where)
		return "map[" + k + "]" + v, err
	case *ast.InterfaceType:
		if len(e.Methods.List) == 0 {
			return "any", nil
		}
	case *ast.StructType:
		var b bytes.Buffer
		b.WriteString("struct {\n")
		if err := g.writeFields(&b, d, e, &Type{}, params, map[string]bool{}); err != nil {
			return "", err
		}
		b.WriteString("}")
		return b.String(), nil
	}
	return "", fmt.Errorf("wiregen: %s: type %s is not supported", where, exprString(e))
}

// namedType maps a named type of the module: a table type to its client
// name, a mapped type to the client's, an inline struct to an anonymous
// struct of its fields, any other type to its underlying type.
func (g *generator) namedType(d *decl, e ast.Expr, where string) (string, error) {
	name, err := g.qualified(d, e)
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", fmt.Errorf("wiregen: %s: unknown type %s", where, exprString(e))
	}
	if ct := g.bySource[name]; ct != nil {
		return ct.Name, nil
	}
	if c, ok := g.cfg.mapped[name]; ok {
		return c, nil
	}
	nd, err := g.lookup(name)
	if err != nil {
		return "", err
	}
	if err := g.checkOwnJSON(nd, false); err != nil {
		return "", fmt.Errorf("%w (the type of %s)", err, where)
	}
	if nd.spec.TypeParams != nil {
		return "", fmt.Errorf("wiregen: %s: generic type %s is not supported", where, name)
	}
	if st, ok := nd.spec.Type.(*ast.StructType); ok {
		t, ok := g.cfg.inline[name]
		if !ok {
			return "", fmt.Errorf("wiregen: %s: %s has no client type; add it to wiregen's table (a named client type) or to inline (an anonymous struct)", where, name)
		}
		t.Name = name
		var b bytes.Buffer
		b.WriteString("struct {\n")
		if err := g.writeStruct(&b, nd, st, &t, nil); err != nil {
			return "", err
		}
		b.WriteString("}")
		return b.String(), nil
	}
	return g.clientType(nd, nd.spec.Type, nil, name)
}

func isBuiltin(name string) bool {
	switch name {
	case "string", "bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
		"float32", "float64", "byte", "rune", "any":
		return true
	}
	return false
}

func exprString(e ast.Expr) string {
	var b bytes.Buffer
	if err := format.Node(&b, token.NewFileSet(), e); err != nil {
		return fmt.Sprintf("%T", e)
	}
	return b.String()
}

// rename makes a doc comment that starts with one name start with another.
func rename(doc, from, to string) string {
	if rest, ok := strings.CutPrefix(doc, from+" "); ok {
		return to + " " + rest
	}
	return doc
}

// writeDoc writes a doc comment, each line indented.
func writeDoc(w *bytes.Buffer, indent, doc string) {
	doc = strings.TrimRight(doc, "\n")
	if doc == "" {
		return
	}
	for _, l := range strings.Split(doc, "\n") {
		if l == "" {
			fmt.Fprintf(w, "%s//\n", indent)
			continue
		}
		fmt.Fprintf(w, "%s// %s\n", indent, l)
	}
}

// JSONField is a field of a source type as encoding/json writes it.
type JSONField struct {
	// Name is the JSON member's name.
	Name string
	// OmitEmpty says the member is left out when empty (omitempty or
	// omitzero).
	OmitEmpty bool
}

// Fields returns the JSON members of a source struct ("runtime/store.Connection"
// under root, the module root), embedded structs flattened, in order. A type
// that encodes itself gives only the members of its fields.
func Fields(root, qname string) ([]JSONField, error) {
	g := &generator{root: root, pkgs: map[string]*pkg{}}
	d, err := g.lookup(qname)
	if err != nil {
		return nil, err
	}
	var out []JSONField
	return out, g.jsonFields(d, &out)
}

func (g *generator) jsonFields(d *decl, out *[]JSONField) error {
	st, ok := d.spec.Type.(*ast.StructType)
	if !ok {
		return fmt.Errorf("wiregen: %s.%s is not a struct", d.pkg.path, d.spec.Name.Name)
	}
	for _, f := range st.Fields.List {
		tag := ""
		if f.Tag != nil {
			s, _ := strconv.Unquote(f.Tag.Value)
			tag = reflect.StructTag(s).Get("json")
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if len(f.Names) == 0 && name == "" {
			q, err := g.qualified(d, f.Type)
			if err != nil {
				return err
			}
			ed, err := g.lookup(q)
			if err != nil {
				return err
			}
			if err := g.jsonFields(ed, out); err != nil {
				return err
			}
			continue
		}
		omit := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		for _, n := range f.Names {
			if !n.IsExported() {
				continue
			}
			jn := name
			if jn == "" {
				jn = n.Name
			}
			*out = append(*out, JSONField{Name: jn, OmitEmpty: omit})
		}
	}
	return nil
}
