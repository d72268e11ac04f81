// Package connectors holds Membrane's shipped catalogue as YAML: the
// universal actions any app can implement (universal/actions/*.yaml) and a
// directory per real app (stripe/: its Connector and the Actions that
// implement the universal ones). It is a workspace like any user's:
// `membrane validate connectors` checks it and `membrane run --dir
// connectors` runs its actions.
//
// The Go package embeds the catalogue (FS) for Go programs that want to
// ship it inside their own binary (the membrane command reads it from disk
// like any workspace), and holds the catalogue's end-to-end tests, which
// run each connector against its vendor's own API mock (Stripe's
// stripe-mock) where one exists.
package connectors

// docs/catalog.md is this catalogue's page; TestCatalogPage fails when it
// is stale.
//
//go:generate go run ../cmd/membrane catalog --format markdown --made-by "go generate ./connectors" --vendor-cases testdata/prism -o ../docs/catalog.md .
//go:generate go run ../cmd/membrane catalog --format summary --vendor-cases testdata/prism --into ../README.md .

import "embed"

// FS is the catalogue's spec files, embedded: each app's connector.yaml
// and its actions/, events/ and tests/, and universal/'s (testdata/ holds
// the Go tests' fixtures, not specs).
//
//go:embed */*.yaml */actions/*.yaml */events/*.yaml */tests/*.yaml
var FS embed.FS
