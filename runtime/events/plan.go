package events

import (
	"fmt"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/schema"
)

// Plan is an event resolved through its layers (connection overrides
// included) and compiled, ready to poll: the engine's plan of its poll
// request, its mode, and the validator of its record schema.
type Plan struct {
	Resolved *layers.Event
	// Poll is the engine plan of the poll request; nil when the event
	// does not poll.
	Poll *engine.Plan
	// Mode is spec.PollIncremental or spec.PollFullScan.
	Mode string
	// Baseline: the first poll records and emits nothing.
	Baseline bool
	// TypeKey prefixes the outbox event types: the universal key the
	// event implements, else its own key.
	TypeKey string
	record  *schema.Validator
}

// NewPlan builds the plan of a resolved event (see layers.ResolveEvent).
func NewPlan(r *layers.Event) (*Plan, error) {
	if r == nil || r.Compiled == nil || r.Event == nil {
		return nil, fmt.Errorf("events: the event is not resolved")
	}
	p := &Plan{Resolved: r, TypeKey: r.Event.Key}
	if r.Event.Implements != "" {
		p.TypeKey = r.Event.Implements
	}
	if r.Record != nil {
		var diags diag.List
		p.record = (&spec.Schema{Value: r.Record}).Compile(&diags)
		if err := diags.Err(); err != nil {
			return nil, fmt.Errorf("events: the record schema of event %q does not compile: %w", r.Event.Key, err)
		}
	}
	if pol := r.Event.Polling; pol != nil {
		ep, err := engine.NewEventPlan(r)
		if err != nil {
			return nil, err
		}
		p.Poll, p.Mode, p.Baseline = ep, pol.EffectiveMode(), pol.TakesBaseline()
	}
	return p, nil
}

// Key is the event's own key.
func (p *Plan) Key() string { return p.Resolved.Event.Key }

// validate checks a mapped record against the record schema.
func (p *Plan) validate(v any) []schema.Violation {
	if p.record == nil {
		return nil
	}
	if err := p.record.Validate(v); err != nil {
		return schema.Violations(err)
	}
	return nil
}
