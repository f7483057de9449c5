package products

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/idsync/idsync/internal/model"
)

// Webhook event types.
const (
	EventCreated  = "user.created"
	EventUpdated  = "user.updated"
	EventDisabled = "user.disabled"
	EventDeleted  = "user.deleted"
	EventPing     = "ping"
)

// Event is the JSON body of a webhook delivery.
type Event struct {
	Type      string     `json:"type"`
	Version   int64      `json:"version"`
	Timestamp time.Time  `json:"timestamp"`
	User      *EventUser `json:"user,omitempty"`
	// Reason explains a user.disabled that is not a disabled account:
	// "unassigned" when the user left the product's assignment.
	Reason string `json:"reason,omitempty"`
}

// EventUser is the user as a webhook receives it.
type EventUser struct {
	ID          int64             `json:"id"`
	Username    string            `json:"username"`
	Email       string            `json:"email,omitempty"`
	DisplayName string            `json:"displayName,omitempty"`
	Active      bool              `json:"active"`
	AccountType string            `json:"accountType,omitempty"`
	Origin      string            `json:"origin,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
}

// webhookEvent builds the event for a pair's latest state (u nil: gone).
func webhookEvent(cl model.DeliveryClaim, u *model.User, at time.Time) Event {
	ev := Event{Version: cl.WantedVersion, Timestamp: at}
	if cl.Deleted || u == nil {
		ev.Type = EventDeleted
		ev.User = &EventUser{ID: cl.UserID, Username: cl.Username}
		return ev
	}
	active := u.Status == model.StatusActive
	ev.User = &EventUser{
		ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName,
		Active: active && cl.Assigned, AccountType: string(u.AccountType), Origin: string(u.Origin),
		Attributes: u.Attributes,
	}
	switch {
	case !cl.Assigned:
		ev.Type, ev.Reason = EventDisabled, "unassigned"
	case !active:
		ev.Type = EventDisabled
	case cl.DeliveredVersion == 0:
		ev.Type = EventCreated
	default:
		ev.Type = EventUpdated
	}
	return ev
}

// postWebhook sends one signed event and records the exchange.
func postWebhook(ctx context.Context, hc *http.Client, p *model.Product, ev Event) (*exchange, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	ts := strconv.FormatInt(ev.Timestamp.Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.BaseURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "idsync")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign([]byte(p.Secret), ts, body))
	ex := &exchange{Method: http.MethodPost, URL: p.BaseURL, Req: body}
	ex.At = time.Now().UTC()
	resp, err := hc.Do(req)
	ex.Latency = time.Since(ex.At)
	if err != nil {
		ex.Err = err.Error()
		return ex, err
	}
	defer resp.Body.Close()
	ex.Status, ex.Header = resp.StatusCode, resp.Header
	ex.Resp, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return ex, &httpError{Status: resp.StatusCode, msg: fmt.Sprintf("POST %s answered %d", p.BaseURL, resp.StatusCode)}
	}
	return ex, nil
}
