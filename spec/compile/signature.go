package compile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
	"github.com/membrane-dev/membrane/spec/tree"
)

// The signature algorithms checked with the app's public key rather than
// a shared secret.
const (
	// AlgorithmECDSAP256 is ECDSA on P-256 over the SHA-256 of the
	// payload, the signature ASN.1 DER (or the 64 bytes r‖s).
	AlgorithmECDSAP256 = "ecdsa-p256-sha256"
	// AlgorithmEd25519 is Ed25519 over the payload itself.
	AlgorithmEd25519 = "ed25519"
)

// IsPublicKeyAlgorithm says whether a signature algorithm is checked with
// a public key (`publicKey`) rather than a shared secret (`secret`).
func IsPublicKeyAlgorithm(alg string) bool {
	return alg == AlgorithmECDSAP256 || alg == AlgorithmEd25519
}

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
// one of the candidate signatures (or, for ecdsa-p256-sha256 and ed25519,
// one of them must be a signature of Payload by PublicKey), and Timestamp,
// when given, must be within Tolerance of now.
type Signature struct {
	Src *spec.Signature
	// Algorithm is hmac-sha256, hmac-sha1, hmac-sha512, ecdsa-p256-sha256
	// or ed25519.
	Algorithm string
	// Header is the lower-case name of the header that carries the
	// signature: a request without it is refused before anything runs.
	Header string
	// Encoding is how a signature is written: hex or base64.
	Encoding string
	// Prefix is stripped from each candidate; a candidate without it is
	// not a signature of this scheme (another version's) and is skipped.
	Prefix string
	// Secret gives the HMAC key, over `subscription`, `app`,
	// `credentials`, `connection` and `tenant`; nil for a public-key
	// algorithm.
	Secret *Expr
	// PublicKey gives the public key of ecdsa-p256-sha256 and ed25519, over
	// the variables of Secret; nil for an HMAC.
	PublicKey *Expr
	// Key is PublicKey parsed when it is written as text, not computed:
	// *ecdsa.PublicKey or ed25519.PublicKey; nil otherwise.
	Key crypto.PublicKey
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
// doc is the signature's own tree, where the fields are written.
func compileSignature(s *Scope, sig *spec.Signature, doc *tree.Value, diags *diag.List) *Signature {
	cs := &Signature{
		Src:            sig,
		Algorithm:      orDefault(sig.Algorithm, DefaultSignatureAlgorithm),
		Header:         strings.ToLower(sig.Header),
		Encoding:       orDefault(sig.Encoding, DefaultSignatureEncoding),
		Prefix:         sig.Prefix,
		Secret:         s.Compile(sig.Secret, expr.Scalar, diags, varsSecret...),
		PublicKey:      s.Compile(sig.PublicKey, expr.Scalar, diags, varsSecret...),
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
	checkSignatureKey(cs, doc, diags)
	return cs
}

// checkSignatureKey reports a key that does not fit the algorithm: a
// secret for a public-key algorithm or the other way round, secret
// options a public key does not read, and a public key written as text
// that does not parse.
func checkSignatureKey(cs *Signature, doc *tree.Value, diags *diag.List) {
	sig := cs.Src
	keyPos := func(name string, valuePos diag.Pos) diag.Pos {
		if f := doc.Field(name); f != nil {
			return f.KeyPos
		}
		return valuePos
	}
	if !IsPublicKeyAlgorithm(cs.Algorithm) {
		if !sig.PublicKey.IsZero() {
			diags.Errorf(keyPos("publicKey", sig.PublicKey.Pos), "invalid-value", "webhook.signature.publicKey: %s is checked with a shared secret, not a public key; write the secret as `secret`, or set `algorithm` to %s or %s", cs.Algorithm, AlgorithmECDSAP256, AlgorithmEd25519)
		}
		return
	}
	if !sig.Secret.IsZero() {
		diags.Errorf(keyPos("secret", sig.Secret.Pos), "invalid-value", "webhook.signature.secret: %s is checked with the app's public key, not a shared secret; write the key as `publicKey`", cs.Algorithm)
	}
	for _, name := range []string{"secretEncoding", "secretPrefix"} {
		if f := doc.Field(name); f != nil {
			diags.Errorf(f.KeyPos, "invalid-value", "webhook.signature.%s: %s reads no secret, so %s means nothing here; remove it (`publicKey` is PEM or base64 DER, as the app gives it)", name, cs.Algorithm, name)
		}
	}
	if x := cs.PublicKey; x != nil && x.IsLiteral() {
		key, err := ParsePublicKey(cs.Algorithm, x.Src.Source)
		if err != nil {
			diags.Errorf(x.Src.Pos, "invalid-value", "webhook.signature.publicKey: %v", err)
		}
		cs.Key = key
	}
}

// ParsePublicKey reads the public key of a signature algorithm: PEM
// ("-----BEGIN PUBLIC KEY-----") or base64 of the DER (PKIX, what
// `openssl pkey -pubout -outform DER` writes), or for ed25519 also the
// key's 32 bytes in base64 or hex. Its errors never hold the key.
func ParsePublicKey(alg, text string) (crypto.PublicKey, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("the public key is empty; give the key the app shows for the webhook")
	}
	var ders [][]byte
	if strings.HasPrefix(text, "-----BEGIN") {
		block, _ := pem.Decode([]byte(text))
		if block == nil {
			return nil, errors.New("the public key starts as PEM but is not a whole PEM block")
		}
		ders = [][]byte{block.Bytes}
	} else if ders = decodeKeyText(text); len(ders) == 0 {
		return nil, errors.New("the public key is neither PEM, base64 nor hex")
	}
	var err error
	for _, der := range ders {
		var k crypto.PublicKey
		if k, err = parseKeyBytes(alg, der); err == nil {
			return k, nil
		}
	}
	return nil, err
}

// parseKeyBytes reads a decoded public key: PKIX DER, or the bare key
// (ed25519's 32 bytes, P-256's uncompressed point).
func parseKeyBytes(alg string, der []byte) (crypto.PublicKey, error) {
	if alg == AlgorithmEd25519 && len(der) == ed25519.PublicKeySize {
		return ed25519.PublicKey(der), nil
	}
	if alg == AlgorithmECDSAP256 && len(der) == 65 && der[0] == 4 {
		if k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), der); err == nil {
			return k, nil
		}
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("the public key is not a PKIX public key (%d bytes that do not parse as DER); give the key as the app shows it, PEM or base64", len(der))
	}
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if alg == AlgorithmECDSAP256 && k.Curve == elliptic.P256() {
			return k, nil
		}
		return nil, fmt.Errorf("the public key is an ECDSA key on %s, which %s cannot check", k.Curve.Params().Name, alg)
	case ed25519.PublicKey:
		if alg == AlgorithmEd25519 {
			return k, nil
		}
		return nil, fmt.Errorf("the public key is an Ed25519 key, which %s cannot check; set `algorithm: ed25519`", alg)
	case *rsa.PublicKey:
		return nil, fmt.Errorf("the public key is an RSA key, which %s cannot check", alg)
	}
	return nil, fmt.Errorf("the public key is a %T, which %s cannot check", k, alg)
}

// decodeKeyText gives the readings of a key written as hex or base64
// (padded or not, either alphabet): text of hex digits may be either.
func decodeKeyText(s string) [][]byte {
	var out [][]byte
	if b, err := hex.DecodeString(s); err == nil {
		out = append(out, b)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return append(out, b)
		}
	}
	return out
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
