// Package events detects changes in connected apps and writes them to the
// outbox: one store.Event per created, updated or deleted record, enqueued
// in the same transaction as the subscription state that detected it.
//
// change.go is the change model shared by polling and webhooks; poll*.go
// runs one poll of a subscription (incremental, full scan with diff, the
// app's deleted flag).
package events
