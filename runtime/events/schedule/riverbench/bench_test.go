package riverbench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// items is how many subscriptions are due at once, each on a connection of
// its own; workers how many polls run at once on either side.
const (
	items    = 10_000
	workers  = 16
	interval = 5 * time.Minute
)

// BenchmarkPeriodic drains 10,000 due periodic polls with a poll that does
// nothing, each claimed, completed and scheduled again one interval later:
//
//   - river-reschedule: a River job per subscription; the worker inserts
//     the next occurrence and completes the job in one transaction
//     (JobCompleteTx), which is how River expresses per-row periodic work;
//   - river-complete: the same without the next occurrence, River's best
//     case (not periodic: a lower bound of its cost);
//   - store: Membrane's scheduler on Polls.ClaimDue / Extend / Release.
//
// Both sides get the same PostgreSQL database and 16 workers. items/s is
// the figure to compare.
func BenchmarkPeriodic(b *testing.B) {
	dsn := storetest.PostgresDB(b)
	b.Run("river-reschedule", func(b *testing.B) { benchRiver(b, dsn, true) })
	b.Run("river-complete", func(b *testing.B) { benchRiver(b, dsn, false) })
	b.Run("store", func(b *testing.B) { benchStore(b, dsn) })
}

type pollArgs struct {
	Subscription string `json:"subscription"`
	Connection   string `json:"connection"`
}

func (pollArgs) Kind() string { return "poll" }

type pollWorker struct {
	river.WorkerDefaults[pollArgs]
	pool       *pgxpool.Pool
	client     atomic.Pointer[river.Client[pgx.Tx]]
	reschedule bool
	done       func()
}

func (w *pollWorker) Work(ctx context.Context, job *river.Job[pollArgs]) error {
	if !w.reschedule {
		w.done()
		return nil
	}
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := w.client.Load().InsertTx(ctx, tx, job.Args, &river.InsertOpts{ScheduledAt: time.Now().Add(interval)}); err != nil {
		return err
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	w.done()
	return nil
}

func benchRiver(b *testing.B, dsn string, reschedule bool) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	driver := riverpgxv5.New(pool)
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := pool.Exec(ctx, "DELETE FROM river_job"); err != nil {
			b.Fatal(err)
		}
		var left atomic.Int64
		left.Store(items)
		finished := make(chan struct{})
		w := &pollWorker{pool: pool, reschedule: reschedule, done: func() {
			if left.Add(-1) == 0 {
				close(finished)
			}
		}}
		ws := river.NewWorkers()
		river.AddWorker(ws, w)
		client, err := river.NewClient(driver, &river.Config{
			Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
			Workers:       ws,
			FetchCooldown: time.Millisecond, // as eager as River allows
			Logger:        storetest.Quiet(),
		})
		if err != nil {
			b.Fatal(err)
		}
		w.client.Store(client)
		params := make([]river.InsertManyParams, items)
		for i := range params {
			params[i] = river.InsertManyParams{Args: pollArgs{Subscription: fmt.Sprintf("sub_%05d", i), Connection: fmt.Sprintf("conn_%05d", i)}}
		}
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := client.Start(ctx); err != nil {
			b.Fatal(err)
		}
		<-finished
		total += time.Since(start)
		b.StopTimer()
		if err := client.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(items*b.N)/total.Seconds(), "items/s")
}

// countingPolls counts the releases: a poll is done once released.
type countingPolls struct {
	store.Polls
	done func()
}

func (p countingPolls) Release(ctx context.Context, worker, id string, next time.Time) error {
	err := p.Polls.Release(ctx, worker, id, next)
	if err == nil {
		p.done()
	}
	return err
}

// shiftClock is the system clock moved forward by an offset, so each
// round finds every subscription due again without waiting 5 minutes.
type shiftClock struct{ offset atomic.Int64 }

func (c *shiftClock) Now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()))
}
func (c *shiftClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func benchStore(b *testing.B, dsn string) {
	ctx := context.Background()
	clock := &shiftClock{}
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(ctx, dsn, store.WithClock(clock.Now), store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seed(b, st, clock.Now())
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		clock.offset.Add(int64(interval * 2)) // every subscription is due again
		var left atomic.Int64
		left.Store(items)
		finished := make(chan struct{})
		var once sync.Once
		polls := countingPolls{Polls: st.Polls(), done: func() {
			if left.Add(-1) == 0 {
				once.Do(func() { close(finished) })
			}
		}}
		s := schedule.New(schedule.Options{
			Polls: polls, Workers: workers, Clock: clock, Logger: storetest.Quiet(),
			Poller: schedule.PollerFunc(func(context.Context, *store.Subscription) error { return nil }),
		})
		rctx, cancel := context.WithCancel(ctx)
		b.StartTimer()
		start := time.Now()
		ran := make(chan struct{})
		go func() { s.Run(rctx); close(ran) }()
		<-finished
		total += time.Since(start)
		b.StopTimer()
		cancel()
		<-ran
		if st := s.Stats(); st.Polled < items || st.Errors > 0 {
			b.Fatalf("stats %+v", st)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(items*b.N)/total.Seconds(), "items/s")
}

// seed makes 10,000 connections with one due subscription each.
func seed(b *testing.B, st store.Store, now time.Time) {
	ctx := context.Background()
	ts := st.Tenant("bench")
	for chunk := 0; chunk < items; chunk += 1000 {
		err := ts.Tx(ctx, func(tx store.TenantStore) error {
			for i := chunk; i < chunk+1000; i++ {
				c, err := tx.Connections().Create(ctx, store.Connection{Connector: "bench", Name: fmt.Sprint(i)})
				if err != nil {
					return err
				}
				if _, err := tx.Subscriptions().Create(ctx, store.Subscription{
					ConnectionID: c.ID, Event: "record-changed", Interval: interval, NextRunAt: now,
				}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
