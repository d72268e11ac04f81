package schemas

import (
	"cmp"
	"errors"
	"fmt"
	"github.com/membrane-dev/membrane/spec/suggest"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Issue is one problem of a document against its kind's schema, located at
// the value, or the key, it is about.
type Issue struct {
	// Path holds the reference tokens from the document root to the
	// offending value. For a property that is not allowed it ends with that
	// property's name (and Key is true); for a missing property it is the
	// object that lacks it.
	Path []string
	// Key says that the last token of Path is a property name the author
	// wrote and must remove or rename: point at the key, not its value.
	Key bool
	// Message says what is wrong, e.g. "property 'tokenUrl' is not allowed
	// when type is 'apiKey'".
	Message string
	// Keyword is the absolute location of the schema keyword that failed.
	Keyword string
	// Allowed lists, for a property that is not allowed, the names that are
	// allowed at that object (in schema order).
	Allowed []string
	// Suggestion is the allowed name (or enum value) closest to what was
	// written, when one is close: a "did you mean".
	Suggestion string
}

// Pointer returns Path as a JSON Pointer ("" for the document root).
func (i Issue) Pointer() string {
	var b strings.Builder
	for _, t := range i.Path {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

func (i Issue) String() string {
	p := i.Pointer()
	if p == "" {
		p = "/"
	}
	return p + ": " + i.Message
}

var printer = message.NewPrinter(language.English)

// Issues flattens an error of (*jsonschema.Schema).Validate on one of these
// schemas into the problems an author can act on, sorted by location. It
// drops the library's grouping nodes ("'allOf' failed", "validation
// failed"), moves "additional properties 'x' not allowed" to the key x,
// says under which condition a key or a property is (not) allowed ("when
// type is 'apiKey'", "together with 'request'"), merges "none of these
// required properties" into one message, and adds a did-you-mean. An error
// that is not a *jsonschema.ValidationError gives one issue with its text.
func Issues(err error) []Issue {
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Issue{{Message: err.Error()}}
	}
	var out []Issue
	collect(ve, &out)
	slices.SortStableFunc(out, func(a, b Issue) int {
		return cmp.Or(slices.Compare(a.Path, b.Path), strings.Compare(a.Message, b.Message))
	})
	return slices.CompactFunc(out, func(a, b Issue) bool {
		return slices.Equal(a.Path, b.Path) && a.Message == b.Message
	})
}

func collect(e *jsonschema.ValidationError, out *[]Issue) {
	switch k := e.ErrorKind.(type) {
	case *kind.AnyOf:
		if merged, ok := anyMissing(e); ok {
			*out = append(*out, merged)
			return
		}
	case *kind.OneOf:
		if k.Subschemas == nil {
			if merged, ok := anyMissing(e); ok {
				*out = append(*out, merged)
				return
			}
		}
	}
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, out)
		}
		return
	}
	leaf(e, out)
}

// anyMissing turns "'anyOf' failed: missing property 'request'; missing
// property 'steps'" into "missing property 'request' or 'steps'".
func anyMissing(e *jsonschema.ValidationError) (Issue, bool) {
	var names []string
	for _, c := range e.Causes {
		r, ok := c.ErrorKind.(*kind.Required)
		if !ok || len(r.Missing) != 1 || len(c.Causes) > 0 {
			return Issue{}, false
		}
		names = append(names, quote(r.Missing[0]))
	}
	if len(names) < 2 {
		return Issue{}, false
	}
	msg := "missing property " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	return Issue{Path: slices.Clone(e.InstanceLocation), Message: msg, Keyword: keywordLocation(e)}, true
}

func keywordLocation(e *jsonschema.ValidationError) string {
	loc := e.SchemaURL
	if kp := e.ErrorKind.KeywordPath(); len(kp) > 0 {
		if !strings.Contains(loc, "#") {
			loc += "#"
		}
		for _, t := range kp {
			loc += "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(t)
		}
	}
	return loc
}

func leaf(e *jsonschema.ValidationError, out *[]Issue) {
	kw := keywordLocation(e)
	loc := slices.Clone(e.InstanceLocation)
	base := Issue{Path: loc, Keyword: kw, Message: e.ErrorKind.LocalizedString(printer)}

	root, toks, ok := resolve("", e.SchemaURL)
	if !ok {
		*out = append(*out, base)
		return
	}
	ownerToks := toks
	if _, isFalse := e.ErrorKind.(*kind.FalseSchema); isFalse {
		ownerToks = schemaTokens(toks)
	}
	owner, _ := walk(root, ownerToks).(*node)
	cond := condition(root, ownerToks)

	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		allowed := PropertiesAt("", e.SchemaURL)
		known := PropertiesAt("", BaseURL+fileOf(e.SchemaURL)+"#"+tokensPointer(instanceLevel(ownerToks)))
		for _, p := range slices.Sorted(slices.Values(k.Properties)) {
			is := base
			is.Path = append(slices.Clone(loc), p)
			is.Key = true
			is.Allowed = allowed
			switch {
			case owner.get("properties") == nil && owner.get("patternProperties") != nil:
				why := namesMessage(owner)
				if why == "" {
					why = "names must match " + strings.Join(quoteAll(owner.obj("patternProperties").keys), " or ")
				}
				is.Message = fmt.Sprintf("property %s is not allowed: %s", quote(p), why)
				is.Allowed = nil
			case cond != "" && slices.Contains(known, p):
				is.Message = fmt.Sprintf("property %s is not allowed %s", quote(p), cond)
			default:
				is.Message = fmt.Sprintf("property %s is not allowed", quote(p))
				if s := suggest.Closest(p, allowed); s != "" {
					is.Suggestion = s
					is.Message += fmt.Sprintf("; did you mean %s?", quote(s))
				} else if len(allowed) > 0 && len(allowed) <= 10 {
					is.Message += "; allowed: " + strings.Join(allowed, ", ")
				}
			}
			*out = append(*out, is)
		}
		return
	case *kind.FalseSchema:
		n := len(toks)
		if n >= 2 && toks[n-2] == "properties" {
			base.Key = true
			base.Message = strings.TrimSpace(fmt.Sprintf("property %s is not allowed %s", quote(toks[n-1]), cond))
		} else {
			base.Message = "no value is allowed here"
		}
	case *kind.Required:
		for _, m := range k.Missing {
			is := base
			is.Message = "missing property " + quote(m)
			if cond != "" {
				is.Message += " (required " + cond + ")"
			}
			*out = append(*out, is)
		}
		return
	case *kind.DependentRequired:
		for _, m := range k.Missing {
			is := base
			is.Message = fmt.Sprintf("missing property %s (required together with %s)", quote(m), quote(k.Prop))
			*out = append(*out, is)
		}
		return
	case *kind.Pattern:
		if why, ok := patternMessages[k.Want]; ok {
			base.Message = fmt.Sprintf("%s is not valid: %s", quote(k.Got), why)
		}
	case *kind.Minimum:
		base.Message = fmt.Sprintf("%s is too small: the minimum is %s", num(k.Got), num(k.Want))
	case *kind.Maximum:
		base.Message = fmt.Sprintf("%s is too large: the maximum is %s", num(k.Got), num(k.Want))
	case *kind.ExclusiveMinimum:
		base.Message = fmt.Sprintf("%s is too small: it must be greater than %s", num(k.Got), num(k.Want))
	case *kind.ExclusiveMaximum:
		base.Message = fmt.Sprintf("%s is too large: it must be less than %s", num(k.Got), num(k.Want))
	case *kind.MinItems:
		if k.Got == 0 {
			base.Message = fmt.Sprintf("the list is empty; give at least %d item(s), or remove the key for the default", k.Want)
		} else {
			base.Message = fmt.Sprintf("the list has %d item(s); give at least %d", k.Got, k.Want)
		}
	case *kind.Type:
		base.Message = fmt.Sprintf("expected %s, got %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Enum:
		if got, ok := k.Got.(string); ok {
			var want []string
			for _, w := range k.Want {
				if s, ok := w.(string); ok {
					want = append(want, s)
				}
			}
			if s := suggest.Closest(got, want); s != "" {
				base.Suggestion = s
				base.Message += fmt.Sprintf("; did you mean %s?", quote(s))
			}
		}
	}
	if msg, ok := owner.get("errorMessage").(string); ok {
		base.Message = msg
	}
	*out = append(*out, base)
}

// patternMessages say, by the regular expression of a schema's pattern,
// what a value must look like. They live here rather than in the schemas
// (as an editor keyword such as patternErrorMessage) because strict
// validators, ajv's default mode among them, refuse a keyword JSON Schema
// does not define; the schemas' descriptions say it for editors.
var patternMessages = map[string]string{
	`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`:                     "a key starts with a letter or digit and uses only letters, digits, '_', '-' and '.', e.g. create-contact",
	`^\s*\$\{[\s\S]*\}\s*$`:                            "write one CEL expression inside ${ … }, e.g. ${ response.body.results }",
	`^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+)$`: "a duration is a number with a unit (ns, us, ms, s, m, h), e.g. 500ms, 30s, 5m or 1h30m",
	"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$":                    "an HTTP header name uses only letters, digits and !#$%&'*+.^_`|~-, e.g. X-Api-Key",
	`^[a-zA-Z_][a-zA-Z0-9_]*$`:                         "a step name is a CEL identifier (a letter or '_', then letters, digits or '_'), e.g. findContact, so that steps.findContact.output works",
	`^[a-zA-Z][a-zA-Z0-9_]*$`:                          "a name of an app secret is a CEL identifier (a letter, then letters, digits or '_'), e.g. signingSecret, which a webhook's signature.secret reads as app.signingSecret",
	`^/`:                                               "a path starts with '/', e.g. /v1/customers",
	`^https?://`:                                       "an origin starts with https:// or http://, e.g. https://app.example.com",
	`^[A-Z_][A-Z0-9_]*$`:                               "an environment variable name uses upper-case letters, digits and '_', e.g. BACKEND_WEBHOOK_SECRET",
	`^[a-z0-9][a-z0-9-]*$`:                             "a destination name uses lower-case letters, digits and '-', e.g. backend",
	`^[0-9a-fA-F:.]+/[0-9]{1,3}$`:                      "a network is written in CIDR form, e.g. 10.20.0.0/16 or 127.0.0.0/8",
	`^https?://[^\s/]+(/\S*)?$`:                        "an absolute http:// or https:// URL with no spaces, e.g. https://api.example.com/hooks",
	`^(\*|[a-zA-Z0-9][a-zA-Z0-9_.-]*\.([a-zA-Z0-9_-]+|\*))$`: "an event pattern is an exact type (contact-changed.created), a prefix and .* (connection.*), or *",
	`^(nats|tls)://[^\s/]+$`:                                 "a NATS server URL is nats://host:port or tls://host:port, e.g. nats://127.0.0.1:4222",
	`^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$`:                    "a NATS subject is tokens of letters, digits, '_' and '-' joined by '.', with no wildcard, e.g. membrane.events",
}

// namesMessage says what the property names of an object whose names
// one patternProperties regular expression allows must look like, or "".
func namesMessage(owner *node) string {
	if pp := owner.obj("patternProperties"); pp != nil && len(pp.keys) == 1 {
		return patternMessages[pp.keys[0]]
	}
	return ""
}

// condition says when the schema at toks applies, from its context: a
// `then`/`else` whose `if` tests a const or a required property, or a
// dependentSchemas entry. "" when it always applies.
func condition(root *node, toks []string) string {
	n := len(toks)
	switch {
	case n >= 1 && (toks[n-1] == "then" || toks[n-1] == "else"):
		parent, _ := walk(root, toks[:n-1]).(*node)
		ifs := parent.obj("if")
		if ifs == nil {
			return ""
		}
		neg := toks[n-1] == "else"
		if props := ifs.obj("properties"); props != nil && len(props.keys) == 1 {
			d := props.keys[0]
			if v, ok := props.obj(d).get("const").(string); ok {
				if neg {
					return fmt.Sprintf("when %s is not %s", d, quote(v))
				}
				return fmt.Sprintf("when %s is %s", d, quote(v))
			}
		}
		if req, ok := ifs.get("required").([]any); ok && len(req) == 1 && len(ifs.keys) == 1 {
			if r, ok := req[0].(string); ok {
				if neg {
					return fmt.Sprintf("when %s is not given", quote(r))
				}
				return fmt.Sprintf("together with %s", quote(r))
			}
		}
	case n >= 2 && toks[n-2] == "dependentSchemas":
		return fmt.Sprintf("together with %s", quote(toks[n-1]))
	}
	return ""
}

// instanceLevel strips the applicators (allOf/N, then, dependentSchemas/x…)
// at the end of a schema location, leaving the schema of the same instance
// that holds them: the one whose properties list every name known there.
func instanceLevel(toks []string) []string {
	for {
		n := len(toks)
		switch {
		case n >= 1 && slices.Contains([]string{"if", "then", "else", "not"}, toks[n-1]):
			toks = toks[:n-1]
		case n >= 2 && slices.Contains([]string{"allOf", "anyOf", "oneOf", "dependentSchemas"}, toks[n-2]):
			toks = toks[:n-2]
		default:
			return toks
		}
	}
}

func fileOf(u string) string {
	u, _, _ = strings.Cut(u, "#")
	return strings.TrimPrefix(u, BaseURL)
}

func tokensPointer(toks []string) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

func num(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

func quoteAll(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = quote(s)
	}
	return out
}
