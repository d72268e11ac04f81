package tenancy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MinSecretLen is the shortest HMAC secret accepted, in bytes. Anyone who
// holds one token can guess the secret offline at full speed; 32 random
// bytes (the HS256 output size, RFC 7518 §3.2) put that out of reach.
const MinSecretLen = 32

// minRSABits is the smallest RSA modulus accepted for RS256 (RFC 7518 §3.3).
const minRSABits = 2048

// Keys are what a Verifier checks signatures with. At least one is needed.
type Keys struct {
	// HMACSecret verifies HS256 and HS512 tokens: the workspace secret, at
	// least MinSecretLen bytes, used as given (not base64-decoded).
	HMACSecret []byte
	// PublicKeysPEM holds zero or more PEM blocks: "PUBLIC KEY" (PKIX),
	// "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE". An RSA key enables
	// RS256, a P-256 key ES256. Several keys of a kind are all tried, which
	// lets an operator rotate a signing key without downtime.
	PublicKeysPEM []byte
}

// publicKeys are the parsed keys of PublicKeysPEM, by algorithm.
type publicKeys struct {
	rsa []*rsa.PublicKey
	ec  []*ecdsa.PublicKey
}

// parsePublicKeys reads every PEM block of data. Anything else in the data
// (text between blocks, as in a certificate bundle) is ignored, but a block
// that is not a usable public key is an error: silently skipping it would
// leave the operator wondering why their tokens fail.
func parsePublicKeys(data []byte) (publicKeys, error) {
	var keys publicKeys
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		pub, err := publicKeyOf(block)
		if err != nil {
			return publicKeys{}, fmt.Errorf("tenancy: public key %d (%s): %w", n, block.Type, err)
		}
		switch k := pub.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < minRSABits {
				return publicKeys{}, fmt.Errorf("tenancy: public key %d: RSA key of %d bits; RS256 needs at least %d", n, k.N.BitLen(), minRSABits)
			}
			keys.rsa = append(keys.rsa, k)
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				return publicKeys{}, fmt.Errorf("tenancy: public key %d: EC key on %s; ES256 needs P-256", n, k.Curve.Params().Name)
			}
			keys.ec = append(keys.ec, k)
		default:
			return publicKeys{}, fmt.Errorf("tenancy: public key %d: a %T key; only RSA (RS256) and P-256 (ES256) are accepted", n, pub)
		}
	}
	return keys, nil
}

func publicKeyOf(block *pem.Block) (any, error) {
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		// Refuse rather than derive the public half: a private key in the
		// server's configuration is a leak waiting to happen.
		return nil, errors.New("a private key was given where a public key belongs")
	}
	return nil, errors.New("not a public key or certificate")
}
