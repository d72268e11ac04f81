package console

import (
	"context"
	"time"

	"github.com/membrane-dev/membrane/spec/diag"
)

// Status is one load of the workspace by the development server. Its
// fields are those of the reloader's status, in the same order, so one
// converts to the other with a plain conversion.
type Status struct {
	// Generation counts the loads; it grows by one at every reload.
	Generation int64
	LoadedAt   time.Time
	// OK is false when the last load had errors (the server then keeps
	// serving the previous workspace).
	OK          bool
	Files       int
	Diagnostics diag.List
	Took        time.Duration
}

// Source tells the console how the workspace loads: the development
// server's reloader. Under `membrane serve` there is none.
type Source interface {
	// Status is the latest load.
	Status() Status
	// Subscribe sends every new status until ctx ends, then closes the
	// channel. A subscriber that lags may miss intermediate statuses, never
	// the latest. Closing the channel early (at shutdown) ends the
	// console's event streams.
	Subscribe(ctx context.Context) <-chan Status
}
