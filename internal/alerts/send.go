package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
)

// smtpPolicy is where alert e-mail may go: a mail relay on the same host is
// normal, so loopback is allowed, but metadata and link-local addresses are
// refused at connect time like for products.
var smtpPolicy = products.URLPolicy{AllowLoopback: true}

type mailer struct {
	timeout time.Duration
}

// send delivers a as a plain-text e-mail to every recipient of cfg. The
// error names what to fix (connection, TLS, authentication, recipients)
// and never contains the password.
func (m mailer) send(ctx context.Context, cfg model.AlertConfig, a model.Alert) error {
	msg := gomail.NewMsg()
	if err := msg.From(cfg.EmailFrom); err != nil {
		return fmt.Errorf("e-mail: sender %q: %w", cfg.EmailFrom, err)
	}
	if err := msg.To(cfg.EmailTo...); err != nil {
		return fmt.Errorf("e-mail: recipients: %w", err)
	}
	msg.Subject(a.Subject)
	msg.SetDate()
	msg.SetMessageID()
	body := a.Body
	if a.Link != "" {
		body += "\n\n" + a.Link
	}
	msg.SetBodyString(gomail.TypeTextPlain, body+"\n")

	d := &net.Dialer{Timeout: m.timeout, Control: smtpPolicy.Control}
	opts := []gomail.Option{
		gomail.WithPort(cfg.SMTPPort),
		gomail.WithTimeout(m.timeout),
		gomail.WithDialContextFunc(d.DialContext),
	}
	switch cfg.SMTPSecurity {
	case model.SMTPTLS:
		opts = append(opts, gomail.WithSSL())
	case model.SMTPNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if cfg.SMTPUsername != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.SMTPUsername), gomail.WithPassword(cfg.SMTPPassword))
	}
	c, err := gomail.NewClient(cfg.SMTPHost, opts...)
	if err != nil {
		return fmt.Errorf("e-mail: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(sctx, msg); err != nil {
		return fmt.Errorf("e-mail through %s:%d: %s", cfg.SMTPHost, cfg.SMTPPort, scrub(err.Error(), cfg.SMTPPassword))
	}
	return nil
}

type webhook struct {
	client *http.Client
}

// chatMessage is the body both Slack and Microsoft Teams incoming webhooks
// accept.
type chatMessage struct {
	Text string `json:"text"`
}

// send posts a to the chat webhook at url. The error never contains the
// URL, which is a credential; it names the host only.
func (w webhook) send(ctx context.Context, url string, a model.Alert) error {
	text := "*" + a.Subject + "*\n" + a.Body
	if a.Link != "" {
		text += "\n" + a.Link
	}
	b, err := json.Marshal(chatMessage{Text: text})
	if err != nil {
		return fmt.Errorf("chat webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("chat webhook: the stored URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "idsync-alerts")
	host := req.URL.Host
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("chat webhook at %s: %s", host, scrub(err.Error(), url))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := strings.TrimSpace(string(answer))
		if msg != "" {
			msg = ": " + strings.ToValidUTF8(msg, "")
		}
		return fmt.Errorf("chat webhook at %s answered %d%s", host, resp.StatusCode, msg)
	}
	return nil
}

// scrub removes secret from s (an error text that might quote it).
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[secret]")
}
