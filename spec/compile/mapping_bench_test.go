package compile_test

// The cost of mapping records with CEL against hand-written Go. The numbers
// are in docs/perf-actions.md; reproduce them with
//
//	go test -run=NONE -bench=BenchmarkMapping -benchmem ./spec/compile/

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
)

const mappingRecords = 1000

var mappingSink []any

// mappingConnector and mappingAction declare two record mappings of 20
// fields each. "select" only selects, as most record mappings do: renames,
// nested fields. "mixed" is what a real connector writes: 14 selections,
// 4 optional fields with a default (`.?x.orValue(…)`) and 2 computed
// fields.
const mappingConnector = `kind: Connector
key: bench
name: Bench
baseUrl: https://api.example.com
`

const mappingActionTmpl = `kind: Action
connector: bench
key: %s
request:
  path: /v1/records
pagination:
  type: cursor
  items: ${ response.body.data }
  nextCursor: ${ response.body.next }
  param: cursor
record:
%s`

const selectRecord = `  id: ${ record.id }
  email: ${ record.email }
  firstName: ${ record.first_name }
  lastName: ${ record.last_name }
  kind: ${ record.object }
  company: ${ record.company }
  title: ${ record.title }
  created: ${ record.created }
  updated: ${ record.updated }
  score: ${ record.score }
  vip: ${ record.vip }
  currency: ${ record.currency }
  balance: ${ record.balance }
  delinquent: ${ record.delinquent }
  tags: ${ record.tags }
  city: ${ record.address.city }
  country: ${ record.address.country }
  postalCode: ${ record.address.postal_code }
  source: ${ record.metadata.source }
  campaign: ${ record.metadata.campaign }
`

const mixedRecord = `  id: ${ record.id }
  email: ${ record.email }
  firstName: ${ record.first_name }
  lastName: ${ record.last_name }
  company: ${ record.company }
  title: ${ record.title }
  created: ${ record.created }
  updated: ${ record.updated }
  score: ${ record.score }
  vip: ${ record.vip }
  tags: ${ record.tags }
  city: ${ record.address.city }
  country: ${ record.address.country }
  source: ${ record.metadata.source }
  phone: ${ record.?phone.orValue(null) }
  locale: ${ record.?locale.orValue('en') }
  campaign: ${ record.metadata.?campaign.orValue(null) }
  discount: ${ record.?discount.orValue(0) }
  name: ${ record.first_name + ' ' + record.last_name }
  active: ${ record.balance >= 0 && !record.delinquent }
`

// mappingRecord is record i as decodeBody gives it: integral numbers as
// int64. Every third record has no phone, locale or discount.
func mappingRecord(i int) map[string]any {
	r := map[string]any{
		"id": fmt.Sprintf("cus_%06d", i), "object": "customer", "email": fmt.Sprintf("user%d@example.com", i),
		"first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20 7946 0958", "company": "Analytical Engines Ltd",
		"title": "Countess", "created": int64(1718877600 + i), "updated": int64(1718877700 + i), "score": 97.5,
		"vip": i%2 == 0, "currency": "gbp", "balance": int64(i - 500), "delinquent": false, "locale": "en-GB",
		"discount": 0.1, "tags": []any{"math", "poetry"},
		"address":  map[string]any{"line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"},
		"metadata": map[string]any{"source": "membrane", "campaign": "spring"},
	}
	if i%3 == 0 {
		delete(r, "phone")
		delete(r, "locale")
		delete(r, "discount")
	}
	return r
}

// handSelect is the "select" mapping written in Go.
func handSelect(r map[string]any) map[string]any {
	addr, _ := r["address"].(map[string]any)
	meta, _ := r["metadata"].(map[string]any)
	return map[string]any{
		"id": r["id"], "email": r["email"], "firstName": r["first_name"], "lastName": r["last_name"],
		"kind": r["object"], "company": r["company"], "title": r["title"], "created": r["created"],
		"updated": r["updated"], "score": r["score"], "vip": r["vip"], "currency": r["currency"],
		"balance": r["balance"], "delinquent": r["delinquent"], "tags": r["tags"], "city": addr["city"],
		"country": addr["country"], "postalCode": addr["postal_code"], "source": meta["source"],
		"campaign": meta["campaign"],
	}
}

// handMixed is the "mixed" mapping written in Go, defaults and all.
func handMixed(r map[string]any) map[string]any {
	addr, _ := r["address"].(map[string]any)
	meta, _ := r["metadata"].(map[string]any)
	or := func(m map[string]any, k string, def any) any {
		if v, ok := m[k]; ok {
			return v
		}
		return def
	}
	first, _ := r["first_name"].(string)
	last, _ := r["last_name"].(string)
	balance, _ := r["balance"].(int64)
	delinquent, _ := r["delinquent"].(bool)
	return map[string]any{
		"id": r["id"], "email": r["email"], "firstName": r["first_name"], "lastName": r["last_name"],
		"company": r["company"], "title": r["title"], "created": r["created"], "updated": r["updated"],
		"score": r["score"], "vip": r["vip"], "tags": r["tags"], "city": addr["city"],
		"country": addr["country"], "source": meta["source"],
		"phone": or(r, "phone", nil), "locale": or(r, "locale", "en"), "campaign": or(meta, "campaign", nil),
		"discount": or(r, "discount", int64(0)), "name": first + " " + last,
		"active": balance >= 0 && !delinquent,
	}
}

// loadMappings loads both actions through the real loader and compiles
// their record mappings.
func loadMappings(tb testing.TB) map[string]*compile.Mapping {
	dir := tb.TempDir()
	files := map[string]string{
		"connector.yaml":      mappingConnector,
		"actions/select.yaml": fmt.Sprintf(mappingActionTmpl, "select", selectRecord),
		"actions/mixed.yaml":  fmt.Sprintf(mappingActionTmpl, "mixed", mixedRecord),
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	ws, diags := layers.Load(dir)
	if err := diags.Err(); err != nil {
		tb.Fatalf("%v\n%s", err, diags)
	}
	out := map[string]*compile.Mapping{}
	for _, key := range []string{"select", "mixed"} {
		var diags diag.List
		ca := compile.NewAction(ws.Connectors["bench"], ws.Actions["bench"][key], nil, nil, &diags)
		if err := diags.Err(); err != nil {
			tb.Fatalf("%v\n%s", err, diags)
		}
		out[key] = ca.Record
	}
	return out
}

func mappingInput() []any {
	recs := make([]any, mappingRecords)
	for i := range recs {
		recs[i] = mappingRecord(i)
	}
	return recs
}

// evalAll maps every record as the engine does: one variables map for the
// page, `record` set to each item in turn.
func evalAll(m *compile.Mapping, recs []any) ([]any, error) {
	ctx := context.Background()
	vars := map[string]any{compile.VarRecord: nil}
	out := make([]any, 0, len(recs))
	for _, r := range recs {
		vars[compile.VarRecord] = r
		v, err := m.Eval(ctx, vars)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func handAll(f func(map[string]any) map[string]any, recs []any) []any {
	out := make([]any, 0, len(recs))
	for _, r := range recs {
		out = append(out, f(r.(map[string]any)))
	}
	return out
}

// The CEL mappings and the hand-written ones agree on every record.
func TestMappingBenchAgrees(t *testing.T) {
	ms := loadMappings(t)
	recs := mappingInput()
	for key, hand := range map[string]func(map[string]any) map[string]any{"select": handSelect, "mixed": handMixed} {
		got, err := evalAll(ms[key], recs)
		if err != nil {
			t.Fatal(err)
		}
		want := handAll(hand, recs)
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s record %d:\n CEL %#v\nhand %#v", key, i, got[i], want[i])
			}
		}
	}
}

// BenchmarkMapping maps 1,000 records of 20 fields: one op is the whole
// batch. "cel" is a record mapping loaded from YAML (compile.Mapping.Eval),
// "go" a hand-written function building the same maps.
func BenchmarkMapping(b *testing.B) {
	ms := loadMappings(b)
	recs := mappingInput()
	for _, key := range []string{"select", "mixed"} {
		hand := map[string]func(map[string]any) map[string]any{"select": handSelect, "mixed": handMixed}[key]
		b.Run(key+"/cel", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := evalAll(ms[key], recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*mappingRecords), "ns/record")
		})
		b.Run(key+"/go", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				mappingSink = handAll(hand, recs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*mappingRecords), "ns/record")
		})
	}
}
