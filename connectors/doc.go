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

import "embed"

// FS is the catalogue's spec files, embedded: every *.yaml one directory
// down and in actions/, events/ and tests/ (stripe/connector.yaml,
// universal/actions/x.yaml, …), not testdata/, which a load skips.
//
//go:embed */*.yaml */actions/*.yaml */events/*.yaml */tests/*.yaml
var FS embed.FS
