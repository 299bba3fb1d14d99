package reconcile

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/grantclient"
	"github.com/skupperd/skupperd/grantserver"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
)

// Redeemer redeems an AccessToken for the site named subject
// (grantclient.Redeem in production).
type Redeemer func(ctx context.Context, token *v2alpha1.AccessToken, subject string) (*grantclient.Result, error)

// RedeemedAnnotation marks a Link written by a token redemption with the
// token name and the hash of its url and code, so that a redemption whose
// record was lost in a crash is still recognised and never repeated.
const RedeemedAnnotation = "skupper.io/redeemed-from"

// tokenRecord is internal/tokens/<name>.yaml: the outcome of redeeming a
// token with a given url and code.
type tokenRecord struct {
	Hash     string   `json:"hash"`
	Redeemed bool     `json:"redeemed,omitempty"`
	Links    []string `json:"links,omitempty"`
	Refused  string   `json:"refused,omitempty"`
	// RequestID identifies the redemption to the grant server across
	// retries (grantclient.WithRequestID).
	RequestID string `json:"requestID,omitempty"`
	// Response is the grant server's answer, kept from the moment it
	// arrives until it is stored as input (it holds a private key: the
	// record is 0600 like every file under internal/).
	Response string `json:"response,omitempty"`
	Time     string `json:"time,omitempty"`
}

// tokenState is what this reconcile learnt about a token, for its status.
type tokenState struct {
	redeemed bool
	pending  string // waiting, with the reason
	refused  string // refused for good, with the server's message
	// unreachable: pending because the grant server could not be
	// reached (retried; the CLI stops waiting and names it).
	unreachable bool
}

// refusal is the status message of a token refused for good: what
// happened, in the user's words, and how to remove the token from input.
func (r *run) refusal(cause, file string) string {
	if rel, err := filepath.Rel(r.ns.Dir, file); err == nil && file != "" {
		file = rel
	}
	return fmt.Sprintf("Redemption refused: %s; the token is not tried again: remove it by deleting %s", cause, file)
}

func tokenHash(t *v2alpha1.AccessToken) string {
	h := sha256.Sum256([]byte(t.Spec.URL + "\x00" + t.Spec.Code))
	return hex.EncodeToString(h[:16])
}

func (r *run) tokenRecordPath(name string) string {
	return filepath.Join(r.ns.InternalDir(), "tokens", name+".yaml")
}

func (r *run) readTokenRecord(name string) (tokenRecord, bool) {
	var rec tokenRecord
	data, err := os.ReadFile(r.tokenRecordPath(name))
	if err != nil || yaml.Unmarshal(data, &rec) != nil {
		return tokenRecord{}, false
	}
	return rec, true
}

func (r *run) writeTokenRecord(name string, rec tokenRecord) error {
	rec.Time = r.now.UTC().Format(time.RFC3339)
	data, err := yaml.Marshal(rec)
	if err != nil {
		return err
	}
	if err := atomicfile.MkdirAll(filepath.Dir(r.tokenRecordPath(name)), namespaces.DirPerm); err != nil {
		return err
	}
	return atomicfile.WriteFile(r.tokenRecordPath(name), data, namespaces.FilePerm)
}

// redeemTokens redeems every valid AccessToken not redeemed yet with its
// current url and code. The server's answer is first kept durably in the
// token's record (internal/tokens/<name>.yaml, fsync'd), so that a crash
// at any later point finishes the job from it on the next reconcile
// instead of redeeming again (the grant would be used up). Then the
// Link(s) go into input/resources and the credentials into input/certs,
// and the token is recorded as redeemed, so that no later reconcile,
// reload or restart redeems it again. It reports whether input files were
// written.
func (r *run) redeemTokens() (bool, error) {
	wrote := false
	present := map[string]bool{}
	for _, d := range r.snap.Valid() {
		t, ok := d.Object.(*v2alpha1.AccessToken)
		if !ok {
			continue
		}
		present[t.Name] = true
		w, err := r.redeemToken(t, d.File)
		wrote = wrote || w
		if err != nil {
			return wrote, err
		}
	}
	// Forget records of tokens that are gone (their Links stay).
	if entries, err := os.ReadDir(filepath.Join(r.ns.InternalDir(), "tokens")); err == nil {
		for _, e := range entries {
			if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !present[name] {
				_ = atomicfile.Remove(filepath.Join(r.ns.InternalDir(), "tokens", e.Name()))
			}
		}
	}
	return wrote, nil
}

// redeemToken brings one token to its outcome (see redeemTokens).
func (r *run) redeemToken(t *v2alpha1.AccessToken, file string) (bool, error) {
	hash := tokenHash(t)
	rec, found := r.readTokenRecord(t.Name)
	found = found && rec.Hash == hash
	switch {
	case found && rec.Redeemed:
		r.tokens[t.Name] = tokenState{redeemed: true}
		return false, nil
	case found && rec.Refused != "":
		r.tokens[t.Name] = tokenState{refused: r.refusal(rec.Refused, file)}
		return false, nil
	case found && rec.Response != "":
		// Redeemed, and the answer kept, before a crash or a failure.
		res, err := grantclient.ParseResponse([]byte(rec.Response))
		if err != nil {
			r.tokens[t.Name] = tokenState{refused: fmt.Sprintf("the kept answer of the grant server is unusable: %v", err)}
			return false, nil
		}
		return r.finishRedemption(t, hash, res)
	}
	if links := r.linksRedeemedFrom(t.Name, hash); len(links) > 0 {
		// Redeemed before a crash lost the record.
		r.tokens[t.Name] = tokenState{redeemed: true}
		return false, r.writeTokenRecord(t.Name, tokenRecord{Hash: hash, Redeemed: true, Links: links})
	}
	if r.opts.Redeem == nil {
		r.tokens[t.Name] = tokenState{pending: "Waiting for the skupperd daemon to redeem the token"}
		return false, nil
	}
	// The request's id is on disk before the request leaves, so that a
	// retry after a crash presents the same id and gets the answer the
	// server already gave (skupperd's grant server keeps it a while).
	if !found || rec.RequestID == "" {
		rec = tokenRecord{Hash: hash, RequestID: uuid.NewString()}
		if err := r.writeTokenRecord(t.Name, rec); err != nil {
			return false, err
		}
	}
	res, err := r.opts.Redeem(grantclient.WithRequestID(r.ctx, rec.RequestID), t, r.site.Name)
	if err != nil {
		if grantclient.Retryable(err) {
			var ge *grantclient.Error
			r.tokens[t.Name] = tokenState{
				pending:     fmt.Sprintf("Redemption failed, retrying: %v", err),
				unreachable: errors.As(err, &ge) && ge.Unreachable,
			}
			r.res.RetryRedemption = true
			return false, nil
		}
		cause := grantclient.Describe(err)
		r.tokens[t.Name] = tokenState{refused: r.refusal(cause, file)}
		return false, r.writeTokenRecord(t.Name, tokenRecord{Hash: hash, Refused: cause})
	}
	raw := res.Raw
	if len(raw) == 0 {
		if raw, err = encodeResult(res); err != nil {
			return false, err
		}
	}
	if err := r.writeTokenRecord(t.Name, tokenRecord{Hash: hash, RequestID: rec.RequestID, Response: string(raw)}); err != nil {
		return false, err
	}
	return r.finishRedemption(t, hash, res)
}

// finishRedemption persists a redemption's answer as input and records the
// token as redeemed. A failure leaves the answer in the record: the next
// reconcile tries again without redeeming again.
func (r *run) finishRedemption(t *v2alpha1.AccessToken, hash string, res *grantclient.Result) (bool, error) {
	links, err := r.persistRedemption(t, hash, res)
	if err != nil {
		r.tokens[t.Name] = tokenState{pending: fmt.Sprintf("Redeemed, but the answer cannot be stored yet: %v", err)}
		r.res.RetryRedemption = true
		return len(links) > 0, nil
	}
	if err := r.writeTokenRecord(t.Name, tokenRecord{Hash: hash, Redeemed: true, Links: links}); err != nil {
		return true, err
	}
	r.tokens[t.Name] = tokenState{redeemed: true}
	return true, nil
}

// encodeResult renders res as a grant server's answer (for a Redeemer that
// does not return the raw answer).
func encodeResult(res *grantclient.Result) ([]byte, error) {
	var b strings.Builder
	docs := []any{res.Secret}
	for _, l := range res.Links {
		docs = append(docs, l)
	}
	for _, d := range docs {
		data, err := yaml.Marshal(d)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return []byte(b.String()), nil
}

// linksRedeemedFrom lists the input Links annotated as redeemed from this
// token and hash.
func (r *run) linksRedeemedFrom(token, hash string) []string {
	var out []string
	for _, d := range r.snap.Docs {
		if l, ok := d.Object.(*v2alpha1.Link); ok && l.Annotations[RedeemedAnnotation] == token+":"+hash {
			out = append(out, l.Name)
		}
	}
	return out
}

// persistRedemption writes the redeemed credentials to input/certs/<secret>
// and each Link to input/resources/Link-<name>.yaml (cost from linkCost).
func (r *run) persistRedemption(t *v2alpha1.AccessToken, hash string, res *grantclient.Result) ([]string, error) {
	existing := map[string]string{}
	for _, d := range r.snap.Docs {
		if d.Key().Kind == v2alpha1.KindLink {
			existing[d.GetName()] = d.File
		}
	}
	// Links this redemption wrote before an interruption are no clash.
	mine := map[string]bool{}
	for _, n := range r.linksRedeemedFrom(t.Name, hash) {
		mine[n] = true
	}
	name := res.Secret.Name
	if msg := v2alpha1.ValidatePathElement(name); msg != "" || v2alpha1.ValidateName(name) != "" {
		return nil, fmt.Errorf("the grant server answered with an unusable secret name %q", name)
	}
	for _, l := range res.Links {
		if msg := v2alpha1.ValidateName(l.Name); msg != "" {
			return nil, fmt.Errorf("the grant server answered with an unusable link name %q: %s", l.Name, msg)
		}
		if f, clash := existing[l.Name]; clash && !mine[l.Name] {
			return nil, fmt.Errorf("a Link named %q already exists (%s); delete it or rename the token to redeem it", l.Name, f)
		}
	}
	var b certs.Bundle
	b.CA, _ = res.Secret.SecretValue(v2alpha1.SecretKeyCA)
	b.Cert, _ = res.Secret.SecretValue(v2alpha1.SecretKeyCert)
	b.Key, _ = res.Secret.SecretValue(v2alpha1.SecretKeyKey)
	// The redemption is spent: whatever a check says of the credentials
	// now, they are kept, and the Link reports a problem with them (its
	// credentials are checked on every reconcile, with certs.ClockSkew of
	// tolerance for a server whose NotBefore is its own "now").
	if err := r.ns.EnsureInput(); err != nil {
		return nil, err
	}
	if _, err := certs.WriteDir(r.ns.InputCertDir(name), b); err != nil {
		return nil, err
	}
	cost := t.Spec.LinkCost
	if cost < 1 {
		cost = v2alpha1.DefaultLinkCost
	}
	var names []string
	for _, l := range res.Links {
		link := &v2alpha1.Link{
			TypeMeta: v2alpha1.TypeMeta{APIVersion: v2alpha1.GroupVersion, Kind: v2alpha1.KindLink},
			ObjectMeta: v2alpha1.ObjectMeta{Name: l.Name, Annotations: map[string]string{
				RedeemedAnnotation: t.Name + ":" + hash,
			}},
			Spec: v2alpha1.LinkSpec{Endpoints: l.Spec.Endpoints, Cost: cost, TLSCredentials: name, Settings: l.Spec.Settings},
		}
		data, err := v2alpha1.Marshal(link)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(r.ns.InputPath(v2alpha1.KeyOf(link)), data, namespaces.FilePerm); err != nil {
			return nil, err
		}
		names = append(names, l.Name)
	}
	return names, nil
}

// grantRecord is internal/grants/<name>.yaml: the identity of a grant that
// must not change while it lives.
type grantRecord struct {
	UID     string `json:"uid"`
	Code    string `json:"code"`
	Created string `json:"created"`
}

func (r *run) grantRecordPath(name string) string {
	return filepath.Join(r.ns.InternalDir(), "grants", name+".yaml")
}

// randomCode returns n random alphanumerics (as upstream's grant codes).
func randomCode(n int) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

// grantState is what this reconcile computed for an AccessGrant.
type grantState struct {
	grant   grantserver.Grant
	refused string // why it cannot be served
	count   int
}

// processGrants gives each valid AccessGrant a stable uid, code and
// creation time (kept in internal/grants), and decides whether it can be
// served: the site must accept links and the grant server must run.
func (r *run) processGrants() error {
	present := map[string]bool{}
	store := grantserver.FileStore{Home: r.ns.Home}
	for _, d := range r.snap.Valid() {
		g, ok := d.Object.(*v2alpha1.AccessGrant)
		if !ok {
			continue
		}
		present[g.Name] = true
		var rec grantRecord
		if data, err := os.ReadFile(r.grantRecordPath(g.Name)); err == nil {
			_ = yaml.Unmarshal(data, &rec)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read grant %s: %w", g.Name, err)
		}
		changed := false
		if uuid.Validate(rec.UID) != nil {
			rec.UID, rec.Created, changed = uuid.NewString(), r.now.UTC().Format(time.RFC3339), true
		}
		switch {
		case g.Spec.Code != "" && rec.Code != g.Spec.Code:
			rec.Code, changed = g.Spec.Code, true
		case g.Spec.Code == "" && rec.Code == "":
			code, err := randomCode(24)
			if err != nil {
				return err
			}
			rec.Code, changed = code, true
		}
		if changed {
			data, err := yaml.Marshal(rec)
			if err != nil {
				return err
			}
			if err := atomicfile.MkdirAll(filepath.Dir(r.grantRecordPath(g.Name)), namespaces.DirPerm); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(r.grantRecordPath(g.Name), data, namespaces.FilePerm); err != nil {
				return err
			}
		}
		created, err := time.Parse(time.RFC3339, rec.Created)
		if err != nil {
			created = r.now
		}
		window, _ := time.ParseDuration(g.Spec.ExpirationWindow)
		st := grantState{grant: grantserver.Grant{
			Namespace: r.ns.Name, Name: g.Name, UID: rec.UID, Code: rec.Code,
			Expires: created.Add(window), Allowed: g.Spec.RedemptionsAllowed, Issuer: g.Spec.Issuer,
		}}
		st.count, _ = store.Count(st.grant)
		switch {
		case r.site.Spec.Edge:
			st.refused = "Edge sites cannot accept incoming links from remote sites"
		case len(r.siteEndpoints()) == 0:
			st.refused = `Link access is not enabled for this site: use "skupper site update --enable-link-access"`
		case r.opts.Grants == nil:
			st.refused = "The grant server is not running (it runs with the skupperd daemon)"
		default:
			r.res.Grants = append(r.res.Grants, st.grant)
			// Its status turns to Expired then.
			r.changeAt(st.grant.Expires)
		}
		r.grants[g.Name] = st
	}
	if entries, err := os.ReadDir(filepath.Join(r.ns.InternalDir(), "grants")); err == nil {
		for _, e := range entries {
			if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !present[name] {
				_ = atomicfile.Remove(filepath.Join(r.ns.InternalDir(), "grants", e.Name()))
			}
		}
	}
	sort.Slice(r.res.Grants, func(i, j int) bool { return r.res.Grants[i].Name < r.res.Grants[j].Name })
	return nil
}

// grantStatus fills an AccessGrant's status.
func (r *run) grantStatus(g *v2alpha1.AccessGrant, c *conditions) {
	st, ok := r.grants[g.Name]
	if !ok {
		c.set(v2alpha1.ConditionProcessed, false, "Pending", "Not processed")
		c.finish(&g.Status.ResourceStatus)
		return
	}
	g.Status.Redemptions = st.count
	g.Status.ExpirationTime = st.grant.Expires.UTC().Format(time.RFC3339)
	g.Status.Code = st.grant.Code
	if st.refused != "" {
		c.set(v2alpha1.ConditionProcessed, false, "Error", st.refused)
		c.finish(&g.Status.ResourceStatus)
		g.Status.StatusType = v2alpha1.StatusError
		return
	}
	c.set(v2alpha1.ConditionProcessed, true, "Processed", "OK")
	g.Status.URL = r.opts.Grants.URL + "/" + st.grant.UID
	g.Status.CA = r.opts.Grants.CA
	c.set(v2alpha1.ConditionResolved, g.Status.URL != "" && g.Status.CA != "", "Resolved", "OK")
	if reason, msg := grantSpent(st, r.now); reason != "" {
		// Processed and served, but no token of it can be redeemed any
		// more: not Ready.
		c.set(v2alpha1.ConditionRedeemable, false, reason, msg)
	}
	c.finish(&g.Status.ResourceStatus)
}

// grantSpent tells why no token of a grant can be redeemed any more: it
// expired, or all its redemptions are used ("" when it can).
func grantSpent(st grantState, now time.Time) (reason, msg string) {
	switch {
	case !now.Before(st.grant.Expires):
		return v2alpha1.ReasonExpired, fmt.Sprintf("Expired at %s: its tokens are refused; delete it, or issue a token from a new grant", st.grant.Expires.UTC().Format(time.RFC3339))
	case st.count >= st.grant.Allowed:
		return v2alpha1.ReasonUsedUp, fmt.Sprintf("All %s used: its tokens are refused; delete it, or issue a token from a new grant", plural(st.grant.Allowed, "redemption"))
	}
	return "", ""
}

// plural renders "1 redemption", "3 redemptions".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// tokenStatus fills an AccessToken's status.
func (r *run) tokenStatus(t *v2alpha1.AccessToken, c *conditions) {
	st := r.tokens[t.Name]
	switch {
	case st.redeemed:
		t.Status.Redeemed = true
		c.set(v2alpha1.ConditionRedeemed, true, "Redeemed", "OK")
		c.finish(&t.Status.ResourceStatus)
	case st.refused != "":
		// Refused for good: the same token is not tried again.
		c.set(v2alpha1.ConditionRedeemed, false, "Error", st.refused)
		t.Status.StatusType, t.Status.Message, t.Status.Conditions = v2alpha1.StatusError, st.refused, c.list
	default:
		msg := st.pending
		if msg == "" {
			msg = "Not redeemed yet"
		}
		reason := "Pending"
		if st.unreachable {
			reason = v2alpha1.ReasonUnreachable
		}
		c.set(v2alpha1.ConditionRedeemed, false, reason, msg)
		c.finish(&t.Status.ResourceStatus)
	}
}

// linkAccess is what issuing links for this namespace's grants needs, as
// the Site's status reports it: its endpoints (none when the Site itself
// has a problem) and where its issuers are.
func (r *run) linkAccess() grantserver.LinkAccess {
	a := grantserver.LinkAccess{Edge: r.site.Spec.Edge, IssuersDir: r.ns.RuntimeIssuersDir()}
	if _, bad := r.problems[v2alpha1.KeyOf(r.site)]; !bad {
		a.Endpoints = r.siteEndpoints()
	}
	return a
}
