package testkit

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// CRMConfig shapes a loopback CRM.
type CRMConfig struct {
	// APIKey is the bearer token every request must carry.
	APIKey string
	// Latency is added to every answer, as a remote API's round trip.
	Latency time.Duration
	// FailRate is the share of requests answered 500 (0.1: one in ten),
	// chosen by Seed: the n-th attempt of the same request (method, path,
	// query, idempotency key or body) fails or not the same way every run,
	// whatever order requests arrive in. Half of the failed writes that
	// carry an Idempotency-Key fail after the write, as a gateway timing
	// out does: the retry must get the first answer, not a second write.
	FailRate float64
	Seed     uint64
	// FailAlways answers 500 to every request it names, as a path.Match
	// pattern of the method and path ("GET /v1/contacts/c_3", "PUT
	// /v1/deals/*/contacts/c_2"), or, for a request whose body has an
	// email, of the method, path and email ("POST /v1/contacts
	// ada@example.com").
	FailAlways []string
	// Contacts exist from the start, by email; creating one again is a
	// 409 conflict. Their ids are c_1, c_2, … in this order.
	Contacts []string
	// Lists are the lists' members by list id: members are emails of
	// Contacts (their contact ids are listed) or, not among them, ids
	// written as they are (a member whose GET is missing or FailAlways).
	Lists map[string][]string
}

// CRM is a small CRM API on loopback, for end-to-end tests of workflows
// and their benchmark: contacts (unique by email), deals associated with
// contacts, notes and lists, under /v1. POSTs honour an Idempotency-Key
// header: the same key gets the first answer again, and writes nothing.
//
//	GET    /v1/me
//	POST   /v1/contacts               {email, name}   201 {id, email, name} | 409 {error}
//	GET    /v1/contacts?email=E       {results: [contact]}
//	GET    /v1/contacts/{id}          contact | 404
//	PATCH  /v1/contacts/{id}          {name}          contact
//	POST   /v1/contacts/{id}/notes    {text}          201 {id}
//	POST   /v1/deals                  {name, amount}  201 {id}
//	PUT    /v1/deals/{id}/contacts/{contactId}        200 | 404 (no such deal or contact)
//	DELETE /v1/deals/{id}                             204 | 404
//	GET    /v1/lists/{id}/members     {members: [id]}
type CRM struct {
	URL string // http://127.0.0.1:port, without /v1
	cfg CRMConfig

	requests atomic.Int64
	failed   atomic.Int64
	replayed atomic.Int64

	mu       sync.Mutex
	contacts map[string]*CRMContact // by id
	byEmail  map[string]string      // email → id
	creates  map[string]int         // email → contacts written with it
	deals    map[string]*CRMDeal
	nextID   int
	attempts map[string]int      // request → attempts so far
	replies  map[string]crmReply // idempotency key → first answer
}

// CRMContact is a contact as the CRM holds it.
type CRMContact struct {
	ID      string   `json:"id"`
	Email   string   `json:"email"`
	Name    string   `json:"name,omitempty"`
	Company string   `json:"company,omitempty"`
	Notes   []string `json:"-"`
}

// CRMDeal is a deal and the contacts it is associated with.
type CRMDeal struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Amount   float64  `json:"amount"`
	Contacts []string `json:"contacts"`
}

type crmReply struct {
	status int
	body   []byte
}

// StartCRM serves a CRM on 127.0.0.1 until the test ends.
func StartCRM(tb testing.TB, cfg CRMConfig) *CRM {
	tb.Helper()
	c := &CRM{
		cfg:      cfg,
		contacts: map[string]*CRMContact{},
		byEmail:  map[string]string{},
		creates:  map[string]int{},
		deals:    map[string]*CRMDeal{},
		attempts: map[string]int{},
		replies:  map[string]crmReply{},
	}
	for _, email := range cfg.Contacts {
		c.addContact(email, "")
	}
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	tb.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// addContact writes a contact; c.mu is held (or c is not shared yet).
func (c *CRM) addContact(email, name string) *CRMContact {
	c.nextID++
	ct := &CRMContact{ID: fmt.Sprintf("c_%d", c.nextID), Email: email, Name: name,
		Company: "Company of " + email}
	c.contacts[ct.ID] = ct
	c.byEmail[email] = ct.ID
	c.creates[email]++
	return ct
}

// Requests is the number of requests served, failed ones included;
// Failed the number answered with an injected 500.
func (c *CRM) Requests() int64 { return c.requests.Load() }

// Failed is the number of requests answered with an injected 500.
func (c *CRM) Failed() int64 { return c.failed.Load() }

// Replayed is the number of requests answered with the first answer to
// their idempotency key.
func (c *CRM) Replayed() int64 { return c.replayed.Load() }

// Contact returns the contact with this email, and how many contacts
// were ever written with it (more than one is a duplicate write).
func (c *CRM) Contact(email string) (ct CRMContact, writes int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.byEmail[email]
	if !ok {
		return CRMContact{}, c.creates[email], false
	}
	ct = *c.contacts[id]
	ct.Notes = slices.Clone(ct.Notes)
	return ct, c.creates[email], true
}

// ContactByID returns a contact by its id.
func (c *CRM) ContactByID(id string) (CRMContact, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, ok := c.contacts[id]
	if !ok {
		return CRMContact{}, false
	}
	cp := *ct
	cp.Notes = slices.Clone(ct.Notes)
	return cp, true
}

// Deals returns the deals that exist, by id.
func (c *CRM) Deals() map[string]CRMDeal {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]CRMDeal, len(c.deals))
	for id, d := range c.deals {
		cp := *d
		cp.Contacts = slices.Clone(d.Contacts)
		out[id] = cp
	}
	return out
}

func (c *CRM) serve(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	if c.cfg.Latency > 0 {
		time.Sleep(c.cfg.Latency) // the round trip of a remote API
	}
	var body map[string]any
	if r.Body != nil && r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeCRM(w, crmReply{400, errorJSON("the body is not JSON: " + err.Error())})
			return
		}
	}
	if r.Header.Get("Authorization") != "Bearer "+c.cfg.APIKey {
		writeCRM(w, crmReply{401, errorJSON("a bearer token is required")})
		return
	}
	line := r.Method + " " + r.URL.Path
	email, _ := body["email"].(string)
	if slices.ContainsFunc(c.cfg.FailAlways, func(p string) bool {
		ok, _ := path.Match(p, line)
		ok2, _ := path.Match(p, line+" "+email)
		return ok || email != "" && ok2
	}) {
		c.failed.Add(1)
		writeCRM(w, crmReply{500, errorJSON("internal error")})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	ident := line + "?" + r.URL.RawQuery + " " + key
	if key == "" {
		b, _ := json.Marshal(body)
		ident += string(b)
	}
	fail, afterWrite := c.inject(ident)
	if fail && !(afterWrite && key != "") {
		c.failed.Add(1)
		writeCRM(w, crmReply{500, errorJSON("injected failure")})
		return
	}
	c.mu.Lock()
	reply, replayed := c.replies[key]
	if !replayed || key == "" {
		reply = c.handle(r, line, body)
		if key != "" && reply.status < 500 {
			c.replies[key] = reply
		}
	}
	c.mu.Unlock()
	if fail {
		c.failed.Add(1)
		writeCRM(w, crmReply{500, errorJSON("injected failure after the write")})
		return
	}
	if replayed {
		c.replayed.Add(1)
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeCRM(w, reply)
}

// inject decides, from the seed and the request's attempt number, whether
// this attempt fails, and whether after the write.
func (c *CRM) inject(ident string) (fail, afterWrite bool) {
	if c.cfg.FailRate <= 0 {
		return false, false
	}
	c.mu.Lock()
	c.attempts[ident]++
	n := c.attempts[ident]
	c.mu.Unlock()
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], c.cfg.Seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(n))
	h.Write(b[:])
	h.Write([]byte(ident))
	v := h.Sum64()
	return float64(v>>11)/(1<<53) < c.cfg.FailRate, v&1 == 1
}

// handle answers one request; c.mu is held.
func (c *CRM) handle(r *http.Request, line string, body map[string]any) crmReply {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 0 || parts[0] != "v1" {
		return crmReply{404, errorJSON("no route " + line)}
	}
	parts = parts[1:]
	str := func(k string) string { s, _ := body[k].(string); return s }
	switch {
	case r.Method == "GET" && len(parts) == 1 && parts[0] == "me":
		return okJSON(200, map[string]any{"account": "crm"})
	case r.Method == "POST" && len(parts) == 1 && parts[0] == "contacts":
		email := str("email")
		if email == "" {
			return crmReply{422, errorJSON("email is required")}
		}
		if _, ok := c.byEmail[email]; ok {
			return crmReply{409, errorJSON("a contact with email " + email + " exists")}
		}
		return okJSON(201, c.addContact(email, str("name")))
	case r.Method == "GET" && len(parts) == 1 && parts[0] == "contacts":
		results := []any{}
		if id, ok := c.byEmail[r.URL.Query().Get("email")]; ok {
			results = append(results, c.contacts[id])
		}
		return okJSON(200, map[string]any{"results": results})
	case len(parts) >= 2 && parts[0] == "contacts":
		ct, ok := c.contacts[parts[1]]
		if !ok {
			return crmReply{404, errorJSON("no contact " + parts[1])}
		}
		switch {
		case r.Method == "GET" && len(parts) == 2:
			return okJSON(200, ct)
		case r.Method == "PATCH" && len(parts) == 2:
			if n := str("name"); n != "" {
				ct.Name = n
			}
			return okJSON(200, ct)
		case r.Method == "POST" && len(parts) == 3 && parts[2] == "notes":
			ct.Notes = append(ct.Notes, str("text"))
			return okJSON(201, map[string]any{"id": fmt.Sprintf("n_%s_%d", ct.ID, len(ct.Notes))})
		}
	case r.Method == "POST" && len(parts) == 1 && parts[0] == "deals":
		c.nextID++
		amount, _ := body["amount"].(float64)
		d := &CRMDeal{ID: fmt.Sprintf("d_%d", c.nextID), Name: str("name"), Amount: amount, Contacts: []string{}}
		c.deals[d.ID] = d
		return okJSON(201, d)
	case len(parts) >= 2 && parts[0] == "deals":
		d, ok := c.deals[parts[1]]
		if !ok {
			return crmReply{404, errorJSON("no deal " + parts[1])}
		}
		switch {
		case r.Method == "DELETE" && len(parts) == 2:
			delete(c.deals, d.ID)
			return crmReply{204, nil}
		case r.Method == "PUT" && len(parts) == 4 && parts[2] == "contacts":
			if _, ok := c.contacts[parts[3]]; !ok {
				return crmReply{404, errorJSON("no contact " + parts[3])}
			}
			if !slices.Contains(d.Contacts, parts[3]) {
				d.Contacts = append(d.Contacts, parts[3])
			}
			return okJSON(200, map[string]any{"dealId": d.ID, "contactId": parts[3]})
		}
	case r.Method == "GET" && len(parts) == 3 && parts[0] == "lists" && parts[2] == "members":
		members, ok := c.cfg.Lists[parts[1]]
		if !ok {
			return crmReply{404, errorJSON("no list " + parts[1])}
		}
		ids := make([]string, len(members))
		for i, m := range members {
			if id, ok := c.byEmail[m]; ok {
				ids[i] = id
			} else {
				ids[i] = m
			}
		}
		return okJSON(200, map[string]any{"members": ids})
	}
	return crmReply{404, errorJSON("no route " + line)}
}

// Emails lists the emails of every contact, sorted.
func (c *CRM) Emails() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.byEmail))
}

func okJSON(status int, v any) crmReply {
	b, _ := json.Marshal(v)
	return crmReply{status, b}
}

func errorJSON(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

func writeCRM(w http.ResponseWriter, r crmReply) {
	if r.body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}
