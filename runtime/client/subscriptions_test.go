package client_test

import (
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/client"
)

func TestSubscriptions(t *testing.T) {
	_, c, ctx := setup(t)
	conn := must[*client.Connection](t)(c.CreateConnection(ctx, client.CreateConnectionRequest{Connector: "crm",
		Parameters: map[string]any{"region": "eu"}, Credentials: map[string]any{"apiKey": apitest.GoodKey}}))

	before := time.Now()
	polled := must[*client.Subscription](t)(c.Subscribe(ctx, conn.ID, client.SubscribeRequest{Event: "contact-changed", Interval: "15m"}))
	if polled.Status != "active" || !polled.Polled || polled.Interval != "15m" || polled.NextRunAt.Before(before.Add(-time.Second)) || polled.WebhookURL != "" {
		t.Fatalf("polled %+v", polled)
	}
	pushed := must[*client.Subscription](t)(c.Subscribe(ctx, conn.ID, client.SubscribeRequest{Event: "deal-pushed"}))
	if !pushed.Webhook || !strings.HasPrefix(pushed.WebhookURL, apitest.PublicURL+"/webhooks/s/") || !pushed.NextRunAt.IsZero() {
		t.Fatalf("pushed %+v", pushed)
	}
	_, err := c.Subscribe(ctx, conn.ID, client.SubscribeRequest{Event: "deal-pushed"})
	problem(t, err, 409, "already-subscribed")
	_, err = c.Subscribe(ctx, conn.ID, client.SubscribeRequest{Event: "contact-changed", Interval: "5s"})
	if p := problem(t, err, 422, "validation"); len(p.Errors) != 1 || p.Errors[0].Pointer != "/interval" {
		t.Fatalf("errors %+v", p.Errors)
	}

	page := must[*client.Page[client.Subscription]](t)(c.ListSubscriptions(ctx, conn.ID, "", 1))
	if len(page.Items) != 1 || page.Items[0].ID != polled.ID || page.Next == "" {
		t.Fatalf("page %+v", page)
	}
	page = must[*client.Page[client.Subscription]](t)(c.ListSubscriptions(ctx, conn.ID, page.Next, 0))
	if len(page.Items) != 1 || page.Items[0].ID != pushed.ID || page.Next != "" {
		t.Fatalf("page 2 %+v", page)
	}

	paused := must[*client.Subscription](t)(c.PauseSubscription(ctx, conn.ID, polled.ID))
	if paused.Status != "paused" || !paused.NextRunAt.IsZero() {
		t.Fatalf("paused %+v", paused)
	}
	resumed := must[*client.Subscription](t)(c.ResumeSubscription(ctx, conn.ID, polled.ID))
	if resumed.Status != "active" || resumed.NextRunAt.IsZero() || resumed.Version <= paused.Version {
		t.Fatalf("resumed %+v", resumed)
	}
	got := must[*client.Subscription](t)(c.GetSubscription(ctx, conn.ID, polled.ID))
	if got.Version != resumed.Version {
		t.Fatalf("got %+v", got)
	}
	if err := c.DeleteSubscription(ctx, conn.ID, polled.ID, false); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSubscription(ctx, conn.ID, polled.ID)
	problem(t, err, 404, "not-found")
	if err := c.DeleteSubscription(ctx, conn.ID, pushed.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = c.ListSubscriptions(ctx, "conn_doesnotexist0000000", "", 0)
	problem(t, err, 404, "not-found")
}
