package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
)

var secretValues = []string{"sk_live_SECRET_credential_value", "at_SECRET_access_token_value", "rt_SECRET_refresh_token_value"}

// rawSecrets reads the stored sealed columns of a connection.
func rawSecrets(t *testing.T, s store.Store, id string) (creds, token []byte, kid string) {
	t.Helper()
	err := raw(t, s).DB.QueryRow(t.Context(), `SELECT credentials, token, secret_kid FROM connections WHERE id = $1`, id).Scan(&creds, &token, &kid)
	noErr(t, err)
	return creds, token, kid
}

func testEncryption(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	cs := s.Tenant("acme").Connections()
	c := try(cs.Create(ctx, sampleConnection())).ok(t)

	creds, token, kid := rawSecrets(t, s, c.ID)
	if creds == nil || token == nil || kid != e.keys.CurrentID() {
		t.Fatalf("stored: creds %d bytes, token %d bytes, kid %q (want %q)", len(creds), len(token), kid, e.keys.CurrentID())
	}
	for _, v := range secretValues {
		for _, col := range [][]byte{creds, token} {
			if bytes.Contains(col, []byte(v)) || bytes.Contains(col, []byte(v[3:15])) {
				t.Fatalf("a sealed column holds the secret %q", v)
			}
		}
	}
	// Two seals of the same value differ (random nonces).
	c2 := try(cs.Create(ctx, sampleConnection())).ok(t)
	creds2, _, _ := rawSecrets(t, s, c2.ID)
	if bytes.Equal(creds[len(creds)-32:], creds2[len(creds2)-32:]) {
		t.Fatal("equal plaintexts sealed to equal ciphertexts")
	}

	// After a restart with the same key, everything opens.
	s.Close()
	s = e.store()
	cs = s.Tenant("acme").Connections()
	got := try(cs.Get(ctx, c.ID)).ok(t)
	if got.Credentials["apiKey"] != secretValues[0] || got.Token.RefreshToken != secretValues[2] {
		t.Fatalf("after reopen: %+v %+v", got.Credentials, got.Token)
	}

	// With another key, Get fails and says why, without the secret.
	other := try(crypt.New(crypt.Generate())).ok(t)
	s2 := e.store(store.WithKeyring(other))
	_, err := s2.Tenant("acme").Connections().Get(ctx, c.ID)
	isErr(t, err, store.ErrUndecryptable)
	msg := err.Error()
	if !strings.Contains(msg, c.ID) || !strings.Contains(msg, "unknown key id "+e.keys.CurrentID()) {
		t.Fatalf("error does not say what failed: %v", msg)
	}
	for _, v := range secretValues {
		if strings.Contains(msg, v) {
			t.Fatalf("error holds a secret: %v", msg)
		}
	}
	// Listing without secrets still works; updating cannot lose them.
	try(s2.Tenant("acme").Connections().List(ctx, store.ConnectionFilter{})).ok(t)
	_, err = s2.Tenant("acme").Connections().Update(ctx, c.ID, func(*store.Connection) error { return nil })
	isErr(t, err, store.ErrUndecryptable)

	// A sealed value moved to another row does not open there.
	_, err = raw(t, s).DB.Exec(ctx, `UPDATE connections SET credentials = $1 WHERE id = $2`, creds, c2.ID)
	noErr(t, err)
	_, err = cs.Get(ctx, c2.ID)
	isErr(t, err, store.ErrUndecryptable)
	if !strings.Contains(err.Error(), "moved from another row") {
		t.Fatalf("error: %v", err)
	}
}

func testRotation(t *testing.T, e *env) {
	ctx := e.ctx
	keyB := crypt.Generate()
	sA := e.store() // sealing with key A
	var ids []string
	err := sA.Tenant("acme").Tx(ctx, func(tx store.TenantStore) error {
		for i := range 230 { // more than one rotation batch
			c := sampleConnection()
			switch i % 3 {
			case 1:
				c.Credentials = nil
			case 2:
				c.Token = nil
			}
			got, err := tx.Connections().Create(ctx, c)
			if err != nil {
				return err
			}
			ids = append(ids, got.ID)
		}
		_, err := tx.Connections().Create(ctx, store.Connection{Connector: "nosecrets"})
		return err
	})
	noErr(t, err)
	state := "state-0123456789abcdef"
	noErr(t, sA.SaveState(ctx, state, []byte(`{"verifier":"pkce-SECRET"}`), e.clock.Now().Add(time.Hour)))
	subRemote := try(sA.Tenant("acme").Subscriptions().Create(ctx, store.Subscription{ConnectionID: ids[0], Event: "contact-changed",
		Remote: map[string]any{"secret": "whsec_SECRET"}})).ok(t)
	subPlain := try(sA.Tenant("acme").Subscriptions().Create(ctx, store.Subscription{ConnectionID: ids[1], Event: "contact-changed"})).ok(t)

	// B current, A still known: rotate, twice.
	ringBA := try(crypt.New(keyB, e.keyA)).ok(t)
	sBA := e.store(store.WithKeyring(ringBA))
	res := try(sBA.RotateKeys(ctx)).ok(t)
	if res.Connections != 230 || res.States != 1 || res.Subscriptions != 2 {
		t.Fatalf("rotated %+v, want 230 connections, 1 state and 2 subscriptions", res)
	}
	if res := try(sBA.RotateKeys(ctx)).ok(t); res.Connections != 0 || res.States != 0 || res.Subscriptions != 0 {
		t.Fatalf("second rotation did %+v", res)
	}
	_, _, kid := rawSecrets(t, sBA, ids[0])
	if kid != crypt.KeyID(keyB) {
		t.Fatalf("kid %s after rotation, want %s", kid, crypt.KeyID(keyB))
	}

	// Key A removed: everything still opens.
	sB := e.store(store.WithKeyring(try(crypt.New(keyB)).ok(t)))
	for _, id := range ids {
		c := try(sB.Tenant("acme").Connections().Get(ctx, id)).ok(t)
		if c.Token != nil && c.Token.AccessToken != secretValues[1] {
			t.Fatalf("token after rotation: %+v", c.Token)
		}
	}
	if sub := try(sB.Tenant("acme").Subscriptions().Get(ctx, subRemote.ID)).ok(t); sub.Remote["secret"] != "whsec_SECRET" || sub.WebhookToken != subRemote.WebhookToken {
		t.Fatalf("subscription after rotation: %+v", sub)
	}
	if sub := try(sB.SubscriptionByToken(ctx, subPlain.WebhookToken)).ok(t); sub.ID != subPlain.ID || sub.Remote != nil {
		t.Fatalf("subscription by token after rotation: %+v", sub)
	}
	data := try(sB.TakeState(ctx, state)).ok(t)
	if string(data) != `{"verifier":"pkce-SECRET"}` {
		t.Fatalf("state after rotation: %s", data)
	}

	// A value sealed with a key the ring lacks is reported, not skipped
	// silently, and the rest still rotates.
	cA := try(sA.Tenant("acme").Connections().Create(ctx, sampleConnection())).ok(t)
	res, err = e.store(store.WithKeyring(try(crypt.New(keyB, crypt.Generate())).ok(t))).RotateKeys(ctx)
	if res.Connections != 0 || !errors.Is(err, store.ErrUndecryptable) || !strings.Contains(err.Error(), cA.ID) ||
		!strings.Contains(err.Error(), "1 values could not be re-sealed") {
		t.Fatalf("rotation with a missing key: %+v, %v", res, err)
	}
	for _, v := range secretValues {
		if strings.Contains(err.Error(), v) {
			t.Fatalf("rotation error holds a secret: %v", err)
		}
	}
}

// testRotationUnderTraffic rotates while connections keep changing: no
// update is lost and, after it, the old key can go.
func testRotationUnderTraffic(t *testing.T, e *env) {
	ctx := e.ctx
	sA := e.store()
	var ids []string
	for range 40 {
		c := try(sA.Tenant("acme").Connections().Create(ctx, sampleConnection())).ok(t)
		ids = append(ids, c.ID)
	}
	keyB := crypt.Generate()
	ring := try(crypt.New(keyB, e.keyA)).ok(t)
	s1, s2 := e.store(store.WithKeyring(ring)), e.store(store.WithKeyring(ring))

	var wg sync.WaitGroup
	var updates atomic.Int64
	stop := make(chan struct{})
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[(w*7+i)%len(ids)]
				_, err := s1.Tenant("acme").Connections().Update(ctx, id, func(c *store.Connection) error {
					c.Credentials["apiKey"] = fmt.Sprint("k-", w, "-", i)
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				updates.Add(1)
			}
		})
	}
	var rerr [2]error
	var rw sync.WaitGroup
	for i, s := range []store.Store{s1, s2} { // two rotations at once, too
		rw.Go(func() { _, rerr[i] = s.RotateKeys(ctx) })
	}
	rw.Wait()
	close(stop)
	wg.Wait()
	noErr(t, errors.Join(rerr[:]...))
	if updates.Load() == 0 {
		t.Fatal("no traffic ran during the rotation")
	}
	sB := e.store(store.WithKeyring(try(crypt.New(keyB)).ok(t)))
	for _, id := range ids {
		c := try(sB.Tenant("acme").Connections().Get(ctx, id)).ok(t)
		if c.Version == 1 && c.Credentials["apiKey"] != secretValues[0] {
			t.Fatalf("connection %s: credentials %v", id, c.Credentials)
		}
	}
}

func testStates(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	st := "st-SECRETSTATE-0123456789"
	payload := []byte(`{"tenant":"acme","verifier":"pkce-SECRET-verifier"}`)
	noErr(t, s.SaveState(ctx, st, payload, e.clock.Now().Add(10*time.Minute)))
	isErr(t, s.SaveState(ctx, st, payload, e.clock.Now().Add(10*time.Minute)), store.ErrConflict)
	isErr(t, s.SaveState(ctx, "short", payload, e.clock.Now().Add(time.Minute)), store.ErrInvalid)

	// Neither the state nor its data is stored in the clear.
	rows, err := raw(t, s).DB.Query(ctx, `SELECT state_hash, data FROM oauth_states`)
	noErr(t, err)
	for rows.Next() {
		var h string
		var d []byte
		noErr(t, rows.Scan(&h, &d))
		if strings.Contains(h, "SECRETSTATE") || bytes.Contains(d, []byte("pkce-SECRET")) {
			t.Fatal("an OAuth state is stored in the clear")
		}
	}
	rows.Close()

	got := try(s.TakeState(ctx, st)).ok(t)
	if !bytes.Equal(got, payload) {
		t.Fatalf("took %s", got)
	}
	_, err = s.TakeState(ctx, st)
	isErr(t, err, store.ErrNotFound)

	// Expired: not found, and gone.
	noErr(t, s.SaveState(ctx, "st-expiring-0123456789", payload, e.clock.Now().Add(time.Minute)))
	noErr(t, s.SaveState(ctx, "st-pruned-01234567890", payload, e.clock.Now().Add(time.Minute)))
	noErr(t, s.SaveState(ctx, "st-kept-0123456789012", payload, e.clock.Now().Add(time.Hour)))
	e.clock.Advance(2 * time.Minute)
	_, err = s.TakeState(ctx, "st-expiring-0123456789")
	isErr(t, err, store.ErrNotFound)
	if n := try(s.PruneStates(ctx)).ok(t); n != 1 {
		t.Fatalf("pruned %d states, want 1", n)
	}
	try(s.TakeState(ctx, "st-kept-0123456789012")).ok(t)
}

// testStatesConcurrentTake: of concurrent takers, across instances, exactly
// one wins each state.
func testStatesConcurrentTake(t *testing.T, e *env) {
	a, b := e.store(), e.store()
	ctx := e.ctx
	for round := range 5 {
		st := fmt.Sprintf("st-race-%02d-0123456789", round)
		noErr(t, a.SaveState(ctx, st, []byte("x"), e.clock.Now().Add(time.Hour)))
		var wins, losses atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				_, err := s.TakeState(ctx, st)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrNotFound):
					losses.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || losses.Load() != 7 {
			t.Fatalf("round %d: %d winners, %d losers", round, wins.Load(), losses.Load())
		}
	}
}
