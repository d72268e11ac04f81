package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PullEvents reads up to limit events of the log after the cursor after
// ("" is the oldest kept event). A tenant token reads its own tenant's
// events, an admin token every tenant's (tenant, when set, narrows an
// admin's read). Pass the page's Next as after to read what follows.
func (c *Client) PullEvents(ctx context.Context, after string, limit int, tenant string) (*EventPage, error) {
	q := url.Values{}
	set(q, "after", after)
	set(q, "tenant", tenant)
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out EventPage
	_, err := c.call(ctx, "GET", "/v1/events", q, nil, nil, &out)
	if err != nil {
		return nil, err
	}
	if out.Items == nil {
		out.Items = []Event{}
	}
	return &out, nil
}

// StreamOptions tune StreamEvents.
type StreamOptions struct {
	// Tenant narrows an admin token's stream to one tenant.
	Tenant string
	// MaxWait bounds the wait between reconnections after failures;
	// 0 is 30s.
	MaxWait time.Duration
}

// StreamEvents reads the event log as it grows (GET /v1/events/stream),
// from the event after the cursor after ("" is the oldest kept event),
// until ctx is done or the break of a loop over it. When the stream ends
// or breaks (a restart of the server, a network failure) it reconnects
// with Last-Event-ID, so that nothing is lost and nothing repeated; waits
// between failed reconnections grow up to MaxWait. An answer that no retry
// changes (a refused token, a bad cursor) is yielded as a *Problem, and
// ends the sequence, as does ctx (its error is not yielded).
func (c *Client) StreamEvents(ctx context.Context, after string, o *StreamOptions) iter.Seq2[Event, error] {
	if o == nil {
		o = &StreamOptions{}
	}
	maxWait := o.MaxWait
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	// The stream lasts: no overall timeout, the rest of the client's.
	hc := *c.hc
	hc.Timeout = 0
	return func(yield func(Event, error) bool) {
		cursor, retry, failures := after, 2*time.Second, 0
		for ctx.Err() == nil {
			s, err := c.openStream(ctx, &hc, cursor, o.Tenant)
			if err != nil {
				var p *Problem
				if errors.As(err, &p) && p.Status < 500 && p.Status != http.StatusTooManyRequests {
					yield(Event{}, err)
					return
				}
			} else {
				got := false
				for ev, err := range s.events(&retry) {
					if err != nil {
						break
					}
					got = true
					if ev.Cursor != "" {
						cursor = ev.Cursor
					}
					if !yield(ev, nil) {
						s.body.Close()
						return
					}
				}
				s.body.Close()
				if got {
					// The stream was healthy until it ended (a restart, the
					// token's expiry, a network failure): reconnect at once.
					failures = 0
					continue
				}
			}
			failures++
			wait := retry << min(failures-1, 5)
			if wait > maxWait {
				wait = maxWait
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// stream is one connection of StreamEvents.
type stream struct {
	body io.ReadCloser
}

func (c *Client) openStream(ctx context.Context, hc *http.Client, after, tenant string) (*stream, error) {
	q := url.Values{}
	set(q, "tenant", tenant)
	u := c.base + "/v1/events/stream"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, fmt.Errorf("membrane: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.userAgent)
	if after != "" {
		req.Header.Set("Last-Event-ID", after)
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("membrane: GET /v1/events/stream: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return nil, problemOf(res, data)
	}
	return &stream{body: res.Body}, nil
}

// maxMessage bounds one message of the stream.
const maxMessage = 16 << 20

// events parses the stream's messages (the Server-Sent Events format) into
// events; retry receives the server's reconnection delay. It ends with an
// error when the connection breaks, without one when the server ended the
// stream.
func (s *stream) events(retry *time.Duration) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		sc := bufio.NewScanner(s.body)
		sc.Buffer(make([]byte, 64<<10), maxMessage)
		var id, typ string
		var data strings.Builder
		pending := false
		for sc.Scan() {
			line := strings.TrimSuffix(sc.Text(), "\r")
			if line == "" {
				if !pending {
					continue
				}
				var ev Event
				if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
					yield(Event{}, fmt.Errorf("membrane: event stream: message %s is not an event: %w", id, err))
					return
				}
				if ev.Cursor == "" {
					ev.Cursor = id
				}
				if ev.Type == "" {
					ev.Type = typ
				}
				if !yield(ev, nil) {
					return
				}
				id, typ, pending = "", "", false
				data.Reset()
				continue
			}
			if strings.HasPrefix(line, ":") {
				continue // a comment: a heartbeat
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				typ = value
			case "data":
				if pending {
					data.WriteByte('\n')
				}
				data.WriteString(value)
				pending = true
			case "retry":
				if ms, err := strconv.Atoi(value); err == nil && ms > 0 {
					*retry = time.Duration(ms) * time.Millisecond
				}
			}
		}
		if err := sc.Err(); err != nil {
			yield(Event{}, fmt.Errorf("membrane: event stream: %w", err))
		}
	}
}
