package compile

import (
	"strings"
	"time"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
)

// Defaults of a webhook signature check.
const (
	// DefaultSignatureAlgorithm is the HMAC when `algorithm` is not given.
	DefaultSignatureAlgorithm = "hmac-sha256"
	// DefaultSignatureEncoding is how a signature is written when
	// `encoding` is not given.
	DefaultSignatureEncoding = "hex"
	// DefaultSecretEncoding is how the secret gives the key when
	// `secretEncoding` is not given: its bytes as they are.
	DefaultSecretEncoding = "raw"
	// DefaultSignatureTolerance is how far a signed timestamp may be from
	// now when `timestamp` is given without `tolerance`.
	DefaultSignatureTolerance = 5 * time.Minute
)

// Signature is a webhook signature check ready to run (see
// runtime/events/verify): the HMAC of Payload keyed by Secret must equal
// one of the candidate signatures, and Timestamp, when given, must be
// within Tolerance of now.
type Signature struct {
	Src *spec.Signature
	// Algorithm is hmac-sha256, hmac-sha1 or hmac-sha512.
	Algorithm string
	// Header is the lower-case name of the header that carries the
	// signature: a request without it is refused before anything runs.
	Header string
	// Encoding is how a signature is written: hex or base64.
	Encoding string
	// Prefix is stripped from each candidate; a candidate without it is
	// not a signature of this scheme (another version's) and is skipped.
	Prefix string
	// Secret gives the key, over `subscription`, `app`, `credentials`,
	// `connection` and `tenant`.
	Secret *Expr
	// SecretEncoding is raw (the secret's bytes) or base64.
	SecretEncoding string
	// SecretPrefix is stripped from the secret before it is decoded.
	SecretPrefix string
	// Payload is what is signed, over `request`; nil: the raw body.
	Payload *Expr
	// Signatures gives the candidates, over `request` (a string or a list
	// of strings); nil: the header's value.
	Signatures *Expr
	// Timestamp is when the app signed, in Unix seconds, over `request`;
	// nil: the scheme has no replay window.
	Timestamp *Expr
	// Tolerance is how far Timestamp may be from now, either way.
	Tolerance time.Duration
}

// varsSignature are the variables of the expressions that read the
// incoming request.
var varsSignature = []string{VarRequest}

// compileSignature compiles a webhook's signature check. What the schema
// cannot say (a tolerance of zero, expressions of the wrong kind of value)
// is reported at its place in the file.
func compileSignature(s *Scope, sig *spec.Signature, diags *diag.List) *Signature {
	cs := &Signature{
		Src:            sig,
		Algorithm:      orDefault(sig.Algorithm, DefaultSignatureAlgorithm),
		Header:         strings.ToLower(sig.Header),
		Encoding:       orDefault(sig.Encoding, DefaultSignatureEncoding),
		Prefix:         sig.Prefix,
		Secret:         s.Compile(sig.Secret, expr.Scalar, diags, varsSecret...),
		SecretEncoding: orDefault(sig.SecretEncoding, DefaultSecretEncoding),
		SecretPrefix:   sig.SecretPrefix,
		Payload:        s.Compile(sig.Payload, expr.Scalar, diags, varsSignature...),
		Signatures:     s.Compile(sig.Signatures, nil, diags, varsSignature...),
		Timestamp:      s.Compile(sig.Timestamp, nil, diags, varsSignature...),
		Tolerance:      sig.Tolerance.Duration,
	}
	if x := cs.Signatures; x != nil && !signaturesTypeFits(x.Type()) {
		diags.Errorf(x.Src.Pos, "expression", "webhook.signature.signatures: gives %s, but it must give a string or a list of strings (the candidate signatures), e.g. ${ request.headers[\"stripe-signature\"].split(\",\") }", x.Type())
	}
	if x := cs.Timestamp; x != nil && !timestampTypeFits(x.Type()) {
		diags.Errorf(x.Src.Pos, "expression", "webhook.signature.timestamp: gives %s, but it must give Unix seconds (an int, a double or a string of digits) or a timestamp, e.g. ${ int(request.headers[\"x-request-timestamp\"]) }", x.Type())
	}
	switch {
	case sig.Tolerance.Duration < 0 || sig.Tolerance.Duration == 0 && sig.Tolerance.Pos.Line > 0:
		diags.Errorf(sig.Tolerance.Pos, "invalid-value", "webhook.signature.tolerance: must be more than 0: it is how far the signed timestamp may be from now (5m when not given)")
	case cs.Timestamp != nil && cs.Tolerance == 0:
		cs.Tolerance = DefaultSignatureTolerance
	}
	return cs
}

// signaturesTypeFits says whether t can be the candidate signatures.
func signaturesTypeFits(t *expr.Type) bool {
	switch t.Kind() {
	case expr.KindDyn, expr.KindString:
		return true
	case expr.KindList:
		k := t.Elem().Kind()
		return k == expr.KindDyn || k == expr.KindString
	}
	return false
}

// timestampTypeFits says whether t can be a signed timestamp.
func timestampTypeFits(t *expr.Type) bool {
	switch t.Kind() {
	case expr.KindDyn, expr.KindInt, expr.KindUint, expr.KindDouble, expr.KindString, expr.KindTimestamp:
		return true
	}
	return false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
