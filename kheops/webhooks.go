package kheops

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// WebhookSettings are the fields of [Client.CreateWebhook] and
// [Client.EditWebhook]. On create URL and Name are required, Events lists
// the events to send (EventNewSeries, ...), Secret (optional) keys the
// signature and Enabled nil means enabled. On edit empty or nil fields
// are unchanged; Secret set to a pointer to "" removes the secret; Events
// non-nil replaces the whole set (empty: no events); AddEvents and
// RemoveEvents change it and cannot be mixed with Events.
type WebhookSettings struct {
	URL, Name               string
	Secret                  *Token
	Enabled                 *bool
	Events                  []string
	AddEvents, RemoveEvents []string
}

func (s *WebhookSettings) form() url.Values {
	v := form("url", s.URL, "name", s.Name)
	if s.Secret != nil {
		v.Set("secret", string(*s.Secret))
	}
	setBool(v, "enabled", s.Enabled)
	return v
}

// CreateWebhook registers a webhook in an album (POST
// /albums/{album}/webhooks). KHEOPS then POSTs the chosen events to the
// URL, signed when a secret is set; [WebhookHandler] receives them.
// Album admins only; user token.
func (c *Client) CreateWebhook(ctx context.Context, album string, s WebhookSettings) (*Webhook, error) {
	if s.URL == "" || s.Name == "" {
		return nil, fmt.Errorf("%w: webhook URL and name are required", ErrInvalid)
	}
	if s.AddEvents != nil || s.RemoveEvents != nil {
		return nil, fmt.Errorf("%w: AddEvents and RemoveEvents are for edits", ErrInvalid)
	}
	f := s.form()
	f["event"] = s.Events
	var w Webhook
	err := c.webhookCall(ctx, http.MethodPost, album, "", f, http.StatusCreated, &w)
	return ret(&w, err)
}

// webhookCall runs method on /albums/{album}/webhooks[/{id}].
func (c *Client) webhookCall(ctx context.Context, method, album, id string, f url.Values, status int, out any, rest ...string) error {
	if err := checkID("album", album); err != nil {
		return err
	}
	path := []string{"albums", album, "webhooks"}
	if id != "" {
		if err := checkID("webhook", id); err != nil {
			return err
		}
		path = append(path, id)
	}
	return c.call(ctx, request{method: method, path: append(path, rest...), form: f, want: []int{status}}, out)
}

// Webhooks lists an album's webhooks (GET /albums/{album}/webhooks),
// only those with that URL when url is not empty. Admins only; user
// token.
func (c *Client) Webhooks(album, url string) *Pager[Webhook] {
	return newPager[Webhook](c, request{method: http.MethodGet, query: form("url", url)}).sub(album, "webhooks")
}

// Webhook gets one webhook with its triggers and their attempts (GET
// /albums/{album}/webhooks/{id}). Admins only; user token.
func (c *Client) Webhook(ctx context.Context, album, id string) (*Webhook, error) {
	var w Webhook
	err := c.webhookCall(ctx, http.MethodGet, album, id, nil, http.StatusOK, &w)
	return ret(&w, err)
}

// EditWebhook changes a webhook (PATCH /albums/{album}/webhooks/{id}).
// KHEOPS ignores remove_event when add_event is also sent, so with both
// AddEvents and RemoveEvents the client sends two PATCHes (the second
// only removes). Admins only; user token.
func (c *Client) EditWebhook(ctx context.Context, album, id string, s WebhookSettings) (*Webhook, error) {
	if s.Events != nil && (s.AddEvents != nil || s.RemoveEvents != nil) {
		return nil, fmt.Errorf("%w: Events cannot be mixed with AddEvents or RemoveEvents", ErrInvalid)
	}
	f := s.form()
	switch {
	case s.Events != nil && len(s.Events) == 0:
		f["event"] = []string{""}
	case s.Events != nil:
		f["event"] = s.Events
	case s.AddEvents != nil:
		f["add_event"] = s.AddEvents
	case s.RemoveEvents != nil:
		f["remove_event"] = s.RemoveEvents
	}
	var w Webhook
	if err := c.webhookCall(ctx, http.MethodPatch, album, id, f, http.StatusOK, &w); err != nil {
		return nil, err
	}
	if s.AddEvents != nil && s.RemoveEvents != nil {
		w = Webhook{}
		err := c.webhookCall(ctx, http.MethodPatch, album, id, url.Values{"remove_event": s.RemoveEvents}, http.StatusOK, &w)
		return ret(&w, err)
	}
	return &w, nil
}

// DeleteWebhook deletes a webhook (DELETE /albums/{album}/webhooks/{id}).
// Admins only; user token.
func (c *Client) DeleteWebhook(ctx context.Context, album, id string) error {
	return c.webhookCall(ctx, http.MethodDelete, album, id, nil, http.StatusNoContent, nil)
}

// TriggerNewSeries asks KHEOPS to send a new_series event for the given
// series of a study to the webhook now (POST
// /albums/{album}/webhooks/{id}/trigger, answered 202; the delivery has
// is_manual_trigger true and is sent even if the webhook is disabled).
// Admins only; user token.
func (c *Client) TriggerNewSeries(ctx context.Context, album, id, study string, series ...string) error {
	if len(series) == 0 {
		return fmt.Errorf("%w: at least one series UID", ErrInvalid)
	}
	if err := checkUIDs(append([]string{study}, series...)...); err != nil {
		return err
	}
	f := url.Values{"event": {EventNewSeries}, "StudyInstanceUID": {study}, "SeriesInstanceUID": series}
	return c.webhookCall(ctx, http.MethodPost, album, id, f, http.StatusAccepted, nil, "trigger")
}

// TriggerNewUser asks KHEOPS to send a new_user event for a member of the
// album to the webhook now, like [Client.TriggerNewSeries].
func (c *Client) TriggerNewUser(ctx context.Context, album, id, user string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	f := url.Values{"event": {EventNewUser}, "user": {user}}
	return c.webhookCall(ctx, http.MethodPost, album, id, f, http.StatusAccepted, nil, "trigger")
}
