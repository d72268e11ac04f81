package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/store"
)

// forwarder posts each event dev prints to a local backend, signed as a
// destination's webhooks are (Standard Webhooks), like `stripe listen
// --forward-to`. It lives as long as the dev session: nothing is stored,
// an event it fails to deliver is not retried, and only its own URL is
// reached with it (loopback included), whatever membrane.yaml allows
// destinations.
type forwarder struct {
	url    string
	signer *delivery.Signer
	client *http.Client
}

// forwardTimeout bounds one forwarded request, answer included.
const forwardTimeout = 10 * time.Second

// newForwarder checks the URL and makes the session's signer.
func newForwarder(rawURL, secret string) (*forwarder, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--forward-to %q is not an http(s) URL; write one such as http://localhost:3000/hooks", rawURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("--forward-to carries a user name or password; remove it: the backend verifies the webhook-signature header")
	}
	signer, err := delivery.NewSigner([]string{secret})
	if err != nil {
		return nil, err
	}
	return &forwarder{url: rawURL, signer: signer, client: &http.Client{
		Timeout: forwardTimeout,
		// A redirect is an answer, as for every destination.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// forward posts e and says how the backend answered, in a few words.
func (f *forwarder) forward(ctx context.Context, e *store.Event) string {
	body, err := delivery.Encode(e)
	if err != nil {
		return "not forwarded: " + err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		return "not forwarded: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Membrane-dev-forward")
	for k, v := range f.signer.Headers(e.ID, time.Now(), body) {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "failed: " + err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, delivery.DefaultMaxBody))
	took := time.Since(start).Round(time.Millisecond)
	if resp.StatusCode/100 == 2 {
		return fmt.Sprintf("%d %s (%s)", resp.StatusCode, http.StatusText(resp.StatusCode), took)
	}
	return fmt.Sprintf("%d %s (%s): a destination would retry it", resp.StatusCode, http.StatusText(resp.StatusCode), took)
}

// logEnd is the Seq of the newest event in the delivery log, 0 for none.
func logEnd(ctx context.Context, d store.Deliveries) (int64, error) {
	var after int64
	for {
		evs, err := d.Log(ctx, "", after, 500)
		if err != nil || len(evs) == 0 {
			return after, err
		}
		after = evs[len(evs)-1].Seq
	}
}

// printFrom prints (and forwards) the events routed after Seq after, as
// they are routed, until ctx ends.
func printFrom(ctx context.Context, d store.Deliveries, after int64, fw *forwarder, out io.Writer) error {
	for {
		routed := d.Routed() // before reading, so no Route is missed between
		for {
			evs, err := d.Log(ctx, "", after, 500)
			if err != nil {
				return ignoreEnd(ctx, err)
			}
			for i := range evs {
				line := routedLine(&evs[i])
				if fw != nil {
					line += "  -> " + fw.forward(ctx, &evs[i])
				}
				fmt.Fprintln(out, line)
			}
			if len(evs) == 0 {
				break
			}
			after = evs[len(evs)-1].Seq
		}
		select {
		case <-ctx.Done():
			return nil
		case <-routed:
		}
	}
}

func ignoreEnd(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// routedLine is how dev prints a routed event: time, type, tenant, id.
func routedLine(e *store.Event) string {
	return strings.TrimRight(fmt.Sprintf("%s  event  %-28s %-12s %s", e.CreatedAt.Local().Format(time.TimeOnly), e.Type, e.Tenant, e.ID), " ")
}
