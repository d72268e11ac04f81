package compile

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
)

// A connector's URLs (its base URL, its OAuth2 authorization and token
// URLs) say where its requests go, and with them the connection's
// credentials and the workspace's OAuth client secret. A URL may use
// connection parameters (a tenant's subdomain), and parameters are typed
// by a tenant; so that a tenant can never choose the host, each URL
// template is read once when its connector compiles into a URLPolicy, and
// every URL it renders is checked against it (Expr.EvalURL):
//
//   - The scheme and the port come from the file: the template's own text,
//     or a port named in `hosts:`. An expression never gives them.
//   - A URL never holds a user name or password.
//   - A value interpolated into the host must be one DNS label: letters,
//     digits and '-', ASCII only (an internationalized name in its xn--
//     form), upper case lowered. A `pattern` in the parameter's JSON Schema
//     narrows what may be typed; it never widens this.
//   - The rendered host must match the connector's `hosts:`, or when it
//     declares none, the pattern the template's text gives: each label
//     holding an interpolation is `*`, one label
//     (https://${ p.subdomain }.zendesk.com gives *.zendesk.com). A
//     template whose text fixes no more than a public suffix, or whose
//     host is one expression (a self-hosted app's URL), must declare
//     `hosts:`; without, `membrane validate` reports it.
//   - A value interpolated after the host is escaped as one path segment
//     (after a `?`, as a query value), so it cannot reach the authority.
//
// A host written whole in a file is where the file says, `hosts:` or not:
// a workspace file (a sandbox override) is the one place that may move a
// connector.

// URLPolicy is the host policy of one URL template (see above).
type URLPolicy struct {
	Connector string
	Field     string // FieldBaseURL, FieldTokenURL, FieldAuthorizationURL

	src    spec.Template
	mode   urlMode
	scheme string    // lower case; "" in urlDynamic
	host   []urlPart // urlLabels, urlWholeHost
	fixed  string    // urlFixedHost: the host as written
	port   string    // written in the template; "" for the scheme's default
	rest   []urlPart // what follows the authority
	hosts  []HostPattern
	// declared says hosts are the connector's `hosts:`, not derived.
	declared bool
	// echo says an error may name the rendered host: the template reads
	// no credentials.
	echo bool
	lit  *url.URL // urlLiteral
}

type urlMode uint8

const (
	urlLiteral   urlMode = iota // no expression
	urlFixedHost                // expressions after the host only
	urlLabels                   // expressions inside the host's labels
	urlWholeHost                // the host is one expression
	urlDynamic                  // the URL starts with an expression
)

// urlPart is text of a URL template or one of its expressions.
type urlPart struct {
	text  string
	expr  *Expr
	query bool // after `?` or `#`: escaped as a query value
	// param is the connection parameter the expression reads, if it
	// reads one alone.
	param string
}

// URLError is a URL its host policy refuses; nothing was sent to it. It
// names the connector, the field and the place in the file, never the
// value that was refused (it may be a secret).
type URLError struct {
	Connector string
	Field     string
	Pos       diag.Pos
	Layer     string
	// Parameter is the connection parameter whose value was refused, when
	// the interpolation at fault reads one alone.
	Parameter string
	Reason    string
	// Remedy says what to do.
	Remedy string
}

func (e *URLError) Error() string {
	where := e.Pos.String()
	if e.Layer != "" {
		where += ", " + e.Layer + " layer"
	}
	msg := fmt.Sprintf("connector %q, %s (%s): %s; nothing was sent", e.Connector, e.Field, where, e.Reason)
	if e.Remedy != "" {
		msg += ". " + e.Remedy
	}
	return msg
}

// EvalURL evaluates a URL template of a connector and checks the URL
// against the template's host policy. Failures are *URLError, or
// *ExprError for an expression that failed. An Expr compiled without a
// policy (not a connector URL) is refused: a URL goes nowhere unchecked.
func (x *Expr) EvalURL(ctx context.Context, vars map[string]any) (*url.URL, error) {
	if x == nil || x.Template == nil || x.URL == nil {
		src := spec.Template{}
		if x != nil {
			src = x.Src
		}
		return nil, &URLError{Field: "URL", Pos: src.Pos, Layer: src.Layer, Reason: "the template has no host policy (it was not compiled as a connector URL)"}
	}
	return x.URL.eval(ctx, x, vars)
}

// Hosts lists the patterns a URL's host must match: the connector's
// `hosts:`, or the one its template's text gives.
func (p *URLPolicy) Hosts() []HostPattern { return p.hosts }

// Origins lists the origins the template's URLs may have, as
// scheme://host[:port], the host being a pattern of Hosts (a `*` stands
// for one label) or the host the file writes: for a page that must name
// in advance where it may send a user (a Content-Security-Policy).
func (p *URLPolicy) Origins() []string {
	switch p.mode {
	case urlLiteral:
		return []string{asciiLower(p.lit.Scheme + "://" + p.lit.Host)}
	case urlFixedHost:
		return []string{p.scheme + "://" + p.fixed + portSuffix(p.port)}
	}
	scheme := p.scheme
	if p.mode == urlDynamic {
		scheme = "https" // evalDynamic refuses any other
	}
	out := make([]string, 0, len(p.hosts))
	for _, hp := range p.hosts {
		port := p.port // allowed checks a pattern without a port against the file's
		if hp.port != "" {
			port = hp.port
		}
		out = append(out, scheme+"://"+strings.Join(hp.labels, ".")+portSuffix(port))
	}
	return out
}

func portSuffix(port string) string {
	if port == "" {
		return ""
	}
	return ":" + port
}

func (p *URLPolicy) fail(pos diag.Pos, param, format string, args ...any) *URLError {
	remedy := "Check the connection's parameters, or the connector's URL and hosts:"
	if param != "" {
		remedy = fmt.Sprintf("Connect with a valid %q parameter", param)
	}
	return &URLError{Connector: p.Connector, Field: p.Field, Pos: pos, Layer: p.src.Layer, Parameter: param,
		Reason: fmt.Sprintf(format, args...), Remedy: remedy}
}

func (p *URLPolicy) eval(ctx context.Context, x *Expr, vars map[string]any) (*url.URL, error) {
	switch p.mode {
	case urlLiteral:
		u := *p.lit
		return &u, nil
	case urlDynamic:
		return p.evalDynamic(ctx, x, vars)
	}
	host, port, fromFile := p.fixed, p.port, true
	switch p.mode {
	case urlLabels:
		var b strings.Builder
		for _, pt := range p.host {
			if pt.expr == nil {
				b.WriteString(pt.text)
				continue
			}
			v, err := pt.expr.Eval(ctx, vars)
			if err != nil {
				return nil, err
			}
			s := ScalarText(v)
			if why := fragmentProblem(s); why != "" {
				return nil, p.fail(pt.expr.Src.Pos, pt.param, "${ %s } is written into the host, so it must give one DNS label (letters, digits and '-'), but its value %s", exprText(pt.expr), why)
			}
			b.WriteString(asciiLower(s))
		}
		host = b.String()
		if why := hostProblem(host); why != "" {
			return nil, p.fail(p.src.Pos, p.hostParam(), "the rendered host %s", why)
		}
	case urlWholeHost:
		pt := p.host[0]
		v, err := pt.expr.Eval(ctx, vars)
		if err != nil {
			return nil, err
		}
		s := ScalarText(v)
		h, vport, ok := strings.Cut(s, ":")
		if ok && p.port != "" {
			return nil, p.fail(pt.expr.Src.Pos, pt.param, "${ %s } gives the host, and the file the port; its value holds ':'", exprText(pt.expr))
		}
		if ok {
			if !validPort(vport) {
				return nil, p.fail(pt.expr.Src.Pos, pt.param, "${ %s } gives the host, but its value's port is not a number from 1 to 65535", exprText(pt.expr))
			}
			if vport != defaultPort(p.scheme) {
				port, fromFile = vport, false
			}
		}
		if !isASCII(h) {
			return nil, p.fail(pt.expr.Src.Pos, pt.param, "${ %s } gives the host, but its value holds %s", exprText(pt.expr), describeChar(h[firstNonASCII(h):]))
		}
		host = asciiLower(h)
		if why := hostProblem(host); why != "" {
			return nil, p.fail(pt.expr.Src.Pos, pt.param, "${ %s } gives the host, but its value %s", exprText(pt.expr), why)
		}
	}
	if p.mode != urlFixedHost {
		if err := p.allowed(host, port, fromFile); err != nil {
			return nil, err
		}
	}
	authority := host
	if port != "" {
		authority += ":" + port
	}
	var b strings.Builder
	b.WriteString(p.scheme)
	b.WriteString("://")
	b.WriteString(authority)
	for _, pt := range p.rest {
		if pt.expr == nil {
			b.WriteString(pt.text)
			continue
		}
		v, err := pt.expr.Eval(ctx, vars)
		if err != nil {
			return nil, err
		}
		b.WriteString(EscapeURLValue(ScalarText(v), pt.query))
	}
	u, err := url.Parse(b.String())
	// The authority was checked part by part; that the parser reads the
	// same one back is checked as well, in case text around it (written
	// in the file) changed how it parses.
	if err != nil || u.Scheme != p.scheme || u.User != nil || !strings.EqualFold(u.Host, authority) {
		return nil, p.fail(p.src.Pos, "", "the rendered URL does not keep the scheme and host its template fixes; check the text around its expressions")
	}
	return u, nil
}

// evalDynamic checks a URL that starts with an expression: its scheme,
// host and port all come from the value, so the host must match the
// connector's `hosts:` (compileURL requires them), the scheme must be
// https, and a port other than 443 must be named in `hosts:`.
func (p *URLPolicy) evalDynamic(ctx context.Context, x *Expr, vars map[string]any) (*url.URL, error) {
	v, err := x.Eval(ctx, vars)
	if err != nil {
		return nil, err
	}
	s := ScalarText(v)
	param := p.hostParam()
	refuse := func(format string, args ...any) (*url.URL, error) {
		return nil, p.fail(p.src.Pos, param, "the template gives the whole URL, and its value "+format, args...)
	}
	if !isASCII(s) {
		return refuse("holds %s", describeChar(s[firstNonASCII(s):]))
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return refuse("is not an absolute URL")
	}
	if u.Scheme != "https" {
		return refuse("is not an https URL (a URL from an expression must be https; write http:// in the file to use plain HTTP)")
	}
	if u.User != nil {
		return refuse("holds a user name or password (user@host)")
	}
	if strings.HasPrefix(u.Host, "[") {
		return refuse("has an IP literal for a host")
	}
	host, port := asciiLower(u.Hostname()), u.Port()
	if why := hostProblem(host); why != "" {
		return refuse("has a host that %s", why)
	}
	if port != "" && !validPort(port) {
		return refuse("has a port that is not a number from 1 to 65535")
	}
	if port == "443" {
		port = ""
	}
	if err := p.allowed(host, port, port == ""); err != nil {
		return nil, err
	}
	u.Host = host
	if port != "" {
		u.Host += ":" + port
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// allowed checks a rendered host against the patterns.
func (p *URLPolicy) allowed(host, port string, fromFile bool) error {
	for _, hp := range p.hosts {
		if hp.Match(host, port, fromFile) {
			return nil
		}
	}
	what := "a host"
	if p.echo {
		what = strconv.Quote(host)
		if !fromFile {
			what = strconv.Quote(host + ":" + port)
		}
	}
	list := make([]string, len(p.hosts))
	for i, hp := range p.hosts {
		list[i] = hp.Text
	}
	by := "the connector's hosts: " + strings.Join(list, ", ")
	if !p.declared {
		by = "the pattern its text fixes, " + strings.Join(list, ", ")
	}
	param := p.hostParam()
	if !fromFile {
		return p.fail(p.src.Pos, param, "the URL would go to %s, on a port the file does not name (%s)", what, by)
	}
	return p.fail(p.src.Pos, param, "the URL would go to %s, which is not allowed by %s", what, by)
}

// hostParam is the one connection parameter the host's expressions read,
// or "".
func (p *URLPolicy) hostParam() string {
	param := ""
	for _, pt := range p.host {
		if pt.expr == nil {
			continue
		}
		if pt.param == "" || (param != "" && param != pt.param) {
			return ""
		}
		param = pt.param
	}
	return param
}

// fragmentProblem says why a value written into a host label is not one
// (part of a) DNS label, or "".
func fragmentProblem(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > 63:
		return "is longer than 63 characters"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !ldh(c) && !('A' <= c && c <= 'Z') {
			return "holds " + describeChar(s[i:])
		}
	}
	return ""
}

// hostProblem says why a lower-case host is not dotted DNS labels, or "".
func hostProblem(host string) string {
	if host == "" {
		return "is empty"
	}
	if len(host) > maxHost {
		return fmt.Sprintf("is longer than %d characters", maxHost)
	}
	for l := range strings.SplitSeq(host, ".") {
		if why := labelProblem(l); why != "" {
			if l == "" {
				return "has an empty label"
			}
			return "has a label that " + why
		}
	}
	return ""
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535 && s[0] != '0' && s[0] != '+'
}

func defaultPort(scheme string) string {
	if scheme == "http" {
		return "80"
	}
	return "443"
}

func isASCII(s string) bool { return firstNonASCII(s) == len(s) }

func firstNonASCII(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return i
		}
	}
	return len(s)
}

// EscapeURLValue writes a value interpolated into a URL after its host so
// that it stays one path segment (or, in the query, one value): it can add
// no '/', '?' or '#', and no "." or ".." segment that would climb the path.
func EscapeURLValue(s string, inQuery bool) string {
	switch {
	case inQuery:
		return url.QueryEscape(s)
	case s == ".":
		return "%2E"
	case s == "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

// ScalarText writes a value as it goes into a URL or a header: a string
// as is, a number in its shortest form (3, not 3.0), null as nothing, and
// anything else as JSON.
func ScalarText(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case int64:
		return strconv.FormatInt(t, 10)
	case int:
		return strconv.Itoa(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func exprText(x *Expr) string {
	s := strings.TrimSpace(x.Src.Source)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "${"), "}")
	return strings.TrimSpace(s)
}

// paramOf is the connection parameter an expression reads alone, or "".
func paramOf(x *Expr) string {
	param := ""
	for _, path := range x.Paths() {
		rest, ok := strings.CutPrefix(path, VarConnection+".parameters.")
		if !ok {
			return ""
		}
		name, _, _ := strings.Cut(rest, ".")
		if param != "" && param != name {
			return ""
		}
		param = name
	}
	return param
}

// compileURL reads a connector URL template into its policy and sets
// x.URL, or reports why the template could let a connection choose the
// host. x is the template compiled whole; its expressions are compiled
// again one by one, as they are checked one by one.
func compileURL(s *Scope, x *Expr, connector, field string, hosts []HostPattern, declared bool, diags *diag.List, vars []string) {
	if x == nil {
		return
	}
	t := x.Src
	parsed, err := expr.Parse(t.Source)
	if err != nil || len(parsed.Parts) == 0 {
		return // reported when x compiled
	}
	p := &URLPolicy{Connector: connector, Field: field, src: t, hosts: hosts, declared: declared,
		echo: !slices.Contains(x.Vars(), VarCredentials)}
	bad := false
	errorf := func(pos diag.Pos, format string, args ...any) {
		diags.Errorf(pos, "host-policy", field+": "+format, args...)
		bad = true
	}
	const hostsHint = "declare the hosts it may reach in the connector's `hosts:` (e.g. hosts: [\"*.example.com\"]), or write the app's domain in the URL (https://${ … }.example.com)"

	if parsed.IsLiteral() {
		p.mode = urlLiteral
		u, why := literalURL(parsed.Parts[0].Text)
		if why != "" {
			errorf(t.Pos, "%s", why)
			return
		}
		p.lit = u
		x.URL = p
		return
	}

	// Each expression on its own, to check its value where it goes.
	var ignored diag.List
	exprs := make([]*Expr, 0, len(parsed.Parts))
	for _, pt := range parsed.Parts {
		if !pt.Expr {
			continue
		}
		sub := spec.Template{Source: "${" + pt.Text + "}", Pos: posAt(t, pt.Offset-2), Layer: t.Layer}
		sx := s.Compile(sub, expr.Scalar, &ignored, vars...)
		if sx == nil {
			return // reported when x compiled
		}
		exprs = append(exprs, sx)
	}

	if parsed.Parts[0].Expr {
		p.mode = urlDynamic
		if !declared {
			errorf(exprs[0].Src.Pos, "the URL starts with ${ %s }, so its value would choose the scheme and host where requests and secrets go; %s", exprText(exprs[0]), hostsHint)
			return
		}
		p.host = []urlPart{{expr: exprs[0], param: paramOf(exprs[0])}}
		x.URL = p
		return
	}

	first := parsed.Parts[0].Text
	switch lower := asciiLower(first); {
	case strings.HasPrefix(lower, "https://"):
		p.scheme = "https"
	case strings.HasPrefix(lower, "http://"):
		p.scheme = "http"
	default:
		errorf(t.Pos, "the URL must start with https:// or http://, written in the file: its scheme is never chosen by an expression")
		return
	}

	// The skeleton of the authority: its text, with NUL for each
	// expression, and the place in the template of each byte.
	var (
		skel   strings.Builder
		offs   []int
		inAuth = true
		query  bool
		ei     int
	)
	for i, pt := range parsed.Parts {
		if pt.Expr {
			x := exprs[ei]
			ei++
			if inAuth {
				skel.WriteByte(0)
				offs = append(offs, -ei) // -index-1 of the expression
				continue
			}
			p.rest = append(p.rest, urlPart{expr: x, query: query, param: paramOf(x)})
			continue
		}
		text, off := pt.Text, pt.Offset
		if i == 0 {
			n := len(p.scheme) + len("://")
			text, off = text[n:], off+n
		}
		if inAuth {
			j := strings.IndexAny(text, "/?#")
			if j < 0 {
				j = len(text)
			}
			for k := 0; k < j; k++ {
				skel.WriteByte(text[k])
				offs = append(offs, off+k)
			}
			if j == len(text) {
				continue
			}
			inAuth, text = false, text[j:]
		}
		p.rest = append(p.rest, urlPart{text: text})
		query = query || strings.ContainsAny(text, "?#")
	}
	sk := skel.String()
	posAt := func(i int) diag.Pos {
		if i < 0 || i >= len(offs) {
			return t.Pos
		}
		if offs[i] < 0 {
			return exprs[-offs[i]-1].Src.Pos
		}
		return posAt(t, offs[i])
	}
	exprAt := func(i int) *Expr { return exprs[-offs[i]-1] }

	if i := strings.IndexByte(sk, '@'); i >= 0 {
		errorf(posAt(i), "the URL holds a user name or password (user@host); credentials belong in auth:, never in a URL")
		return
	}
	hostSk, portSk := sk, ""
	if strings.HasPrefix(sk, "[") {
		end := strings.IndexByte(sk, ']')
		if end < 0 || strings.IndexByte(sk[:end], 0) >= 0 {
			errorf(t.Pos, "an IP literal host ([…]) is written whole in the file, without expressions")
			return
		}
		hostSk = sk[:end+1]
		if rest := sk[end+1:]; rest != "" {
			if rest[0] != ':' {
				errorf(posAt(end+1), "the host [%s] is followed by something other than a port", sk[1:end])
				return
			}
			portSk = rest[1:]
		}
	} else if i := strings.LastIndexByte(sk, ':'); i >= 0 {
		hostSk, portSk = sk[:i], sk[i+1:]
	}
	if strings.Contains(sk, ":") {
		base := len(hostSk) + 1
		if k := strings.IndexByte(portSk, 0); k >= 0 {
			errorf(posAt(base+k), "the port comes from ${ %s }; write the port in the file: it is never chosen by an expression", exprText(exprAt(base+k)))
			return
		}
		if !validPort(portSk) {
			errorf(posAt(base), "the port %q is not a number from 1 to 65535", portSk)
			return
		}
		if portSk != defaultPort(p.scheme) {
			p.port = portSk
		}
	}
	if hostSk == "" {
		errorf(t.Pos, "the URL has no host")
		return
	}
	if i := firstNonASCII(hostSk); i < len(hostSk) {
		errorf(posAt(i), "write the host in ASCII: an internationalized name in its xn-- form")
		return
	}
	nExprs := strings.Count(hostSk, "\x00")
	switch {
	case nExprs == 0:
		p.mode, p.fixed = urlFixedHost, asciiLower(hostSk)
		x.URL = p
		return
	case hostSk == "\x00":
		p.mode = urlWholeHost
		hx := exprAt(0)
		p.host = []urlPart{{expr: hx, param: paramOf(hx)}}
		if !declared {
			errorf(hx.Src.Pos, "the host comes from ${ %s } alone, so its value would choose where requests and secrets go; %s", exprText(hx), hostsHint)
			return
		}
		x.URL = p
		return
	}

	// Expressions inside labels: each label that holds one is `*`.
	p.mode = urlLabels
	var labels []string
	start := 0
	for i := 0; i <= len(hostSk); i++ {
		if i < len(hostSk) && hostSk[i] != '.' {
			continue
		}
		l := asciiLower(hostSk[start:i])
		if strings.IndexByte(l, 0) >= 0 {
			for k := 0; k < len(l); k++ {
				if c := l[k]; c != 0 && !ldh(c) {
					errorf(posAt(start+k), "the host holds %s, which a DNS label cannot hold", describeChar(l[k:]))
				}
			}
			labels = append(labels, "*")
		} else {
			if why := labelProblem(l); why != "" {
				errorf(posAt(start), "the host's label %q %s", l, why)
			}
			labels = append(labels, l)
		}
		start = i + 1
	}
	if bad {
		return
	}
	for i, seg := 0, 0; i <= len(hostSk); i++ {
		if i < len(hostSk) && hostSk[i] != 0 {
			continue
		}
		if i > seg {
			p.host = append(p.host, urlPart{text: asciiLower(hostSk[seg:i])})
		}
		if i < len(hostSk) {
			hx := exprAt(i)
			p.host = append(p.host, urlPart{expr: hx, param: paramOf(hx)})
		}
		seg = i + 1
	}
	derived := strings.Join(labels, ".")
	firstExpr := posAt(strings.IndexByte(hostSk, 0))
	if !declared {
		wild := 0
		for i, l := range labels {
			if l == "*" {
				wild = i
			}
		}
		fixed := strings.Join(labels[wild+1:], ".")
		if !registrable(fixed) {
			what := "nothing of the host"
			if fixed != "" {
				what = "only " + strconv.Quote(fixed) + " of the host, a public suffix"
			}
			errorf(firstExpr, "the text around the host's expressions fixes %s, so a connection's values would choose where requests and secrets go; %s", what, hostsHint)
			return
		}
		p.hosts = []HostPattern{{Text: derived, labels: labels}}
		x.URL = p
		return
	}
	if !slices.ContainsFunc(hosts, func(hp HostPattern) bool { return overlaps(labels, hp) }) {
		list := make([]string, len(hosts))
		for i, hp := range hosts {
			list[i] = hp.Text
		}
		errorf(firstExpr, "no entry of the connector's hosts: (%s) can match this URL's host (%s); fix one or the other", strings.Join(list, ", "), derived)
		return
	}
	x.URL = p
}

// overlaps reports whether some host fits both a template's labels ("*"
// for one holding an expression) and a pattern.
func overlaps(labels []string, hp HostPattern) bool {
	if len(labels) != len(hp.labels) {
		return false
	}
	for i, l := range labels {
		if l != "*" && hp.labels[i] != "*" && l != hp.labels[i] {
			return false
		}
	}
	return true
}

// literalURL checks a URL written whole in a file.
func literalURL(s string) (*url.URL, string) {
	lower := asciiLower(s)
	if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
		return nil, "the URL must start with https:// or http://"
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Sprintf("the URL does not parse: %v", errText(err))
	}
	switch {
	case u.User != nil:
		return nil, "the URL holds a user name or password (user@host); credentials belong in auth:, never in a URL"
	case u.Host == "":
		return nil, "the URL has no host"
	case !isASCII(u.Host):
		return nil, "write the host in ASCII: an internationalized name in its xn-- form"
	}
	return u, ""
}

// errText is a url.Parse error without the URL it repeats.
func errText(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
