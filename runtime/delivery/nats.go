package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/membrane-dev/membrane/runtime/store"
)

// NATS headers of a published envelope, beside Nats-Msg-Id (the event id,
// which JetStream de-duplicates on).
const (
	NatsHeaderType   = "Membrane-Type"
	NatsHeaderTenant = "Membrane-Tenant"
)

// NatsDuplicates is the de-duplication window of the streams delivery
// creates: a retry after an acknowledgement lost on the way is dropped by
// JetStream within it.
const NatsDuplicates = 10 * time.Minute

// natsPool keeps one connection per NATS server URL.
type natsPool struct {
	guard *dialGuard
	mu    sync.Mutex
	conns map[string]*natsConn
}

type natsConn struct {
	connecting sync.Mutex // one dial at a time per URL, not per pool
	nc         *nats.Conn
	js         jetstream.JetStream
	mu         sync.Mutex
	streams    map[string]bool // subjects whose stream exists
}

func newNatsPool(guard *dialGuard) *natsPool {
	return &natsPool{guard: guard, conns: map[string]*natsConn{}}
}

// guardedDialer dials NATS servers through the dial guard.
type guardedDialer struct {
	g       *dialGuard
	timeout time.Duration
}

func (d guardedDialer) Dial(network, address string) (net.Conn, error) {
	return d.g.dialer(d.timeout).Dial(network, address)
}

func (p *natsPool) conn(url string, timeout time.Duration) (*natsConn, error) {
	p.mu.Lock()
	c := p.conns[url]
	if c == nil {
		c = &natsConn{}
		p.conns[url] = c
	}
	p.mu.Unlock()
	c.connecting.Lock()
	defer c.connecting.Unlock()
	if c.nc != nil && !c.nc.IsClosed() {
		return c, nil
	}
	nc, err := nats.Connect(url,
		nats.Name("membrane-delivery"),
		nats.Timeout(timeout),
		nats.SetCustomDialer(guardedDialer{g: p.guard, timeout: timeout}),
		nats.MaxReconnects(-1),
	)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.nc, c.js, c.streams = nc, js, map[string]bool{}
	return c, nil
}

func (p *natsPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for url, c := range p.conns {
		c.connecting.Lock()
		if c.nc != nil {
			c.nc.Close()
		}
		c.connecting.Unlock()
		delete(p.conns, url)
	}
}

// StreamName is the name of the stream delivery creates for a subject
// that no stream captures.
func StreamName(subject string) string {
	r := strings.NewReplacer(".", "_", "*", "_", ">", "_", " ", "_", "\t", "_")
	return "MEMBRANE_" + strings.ToUpper(r.Replace(subject))
}

// ensureStream makes sure a stream captures subject, creating one with a
// de-duplication window when none does.
func (c *natsConn) ensureStream(ctx context.Context, subject string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams[subject] {
		return nil
	}
	_, err := c.js.StreamNameBySubject(ctx, subject)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = c.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        StreamName(subject),
			Description: "Membrane's events (made by Membrane's delivery for a destination's subject)",
			Subjects:    []string{subject},
			Duplicates:  NatsDuplicates,
			Storage:     jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another replica made it
		}
	}
	if err != nil {
		return err
	}
	c.streams[subject] = true
	return nil
}

// publish sends the envelope to dst's subject, JetStream de-duplicating on
// the event id.
func (p *natsPool) publish(ctx context.Context, dst *store.Destination, e *store.Event, body []byte, timeout time.Duration) result {
	if dst.Subject == "" {
		return result{Err: fmt.Errorf("NATS destination %s has no subject", dst.Name)}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	c, err := p.conn(dst.URL, timeout)
	if err != nil {
		return result{Err: natsError("connecting to the NATS server failed", err)}
	}
	if err := c.ensureStream(ctx, dst.Subject); err != nil {
		return result{Err: natsError("no JetStream stream for subject "+dst.Subject, err)}
	}
	msg := nats.NewMsg(dst.Subject)
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, e.ID)
	msg.Header.Set(NatsHeaderType, e.Type)
	msg.Header.Set(NatsHeaderTenant, e.Tenant)
	ack, err := c.js.PublishMsg(ctx, msg)
	if err != nil {
		// The stream may be gone: look for it again next time.
		c.mu.Lock()
		delete(c.streams, dst.Subject)
		c.mu.Unlock()
		return result{Err: natsError("publishing to "+dst.Subject+" failed", err)}
	}
	dup := ""
	if ack.Duplicate {
		dup = " (duplicate: already stored)"
	}
	return result{Excerpt: fmt.Sprintf("stream %s seq %d%s", ack.Stream, ack.Sequence, dup)}
}

func natsError(what string, err error) error {
	var pe *PrivateAddressError
	if errors.As(err, &pe) {
		return pe
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		return fmt.Errorf("%s: no answer within the destination's timeout", what)
	}
	return fmt.Errorf("%s: %v", what, err)
}
