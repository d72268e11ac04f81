package console

import (
	"context"

	"github.com/membrane-dev/membrane/runtime/internal/devstatus"
)

// Status is one load of the workspace by the development server: the
// reloader's own status type (runtime/reload.Status is the same), so the
// reloader is a Source as it is.
type Status = devstatus.Status

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
