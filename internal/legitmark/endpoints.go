package legitmark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nfcd/nfcd/internal/secret"
	"go.uber.org/zap"
)

// list decodes a list that the API wraps in different ways per endpoint: a
// bare array, or an object holding it under one of keys (possibly one level
// down, e.g. data.side_groups).
func list[T any](raw json.RawMessage, keys ...string) ([]T, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '[' {
		var out []T
		err := json.Unmarshal(raw, &out)
		return out, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if v, ok := obj[k]; ok {
			return list[T](v, keys...)
		}
	}
	return nil, errors.New("no list in response")
}

func checkID(what, id string) error {
	if id == "" || len(id) > 128 || strings.ContainsAny(id, "/?#%\\ \t\r\n") {
		return errors.Join(ErrBadInput, errors.New("legitmark: invalid "+what))
	}
	return nil
}

// Services lists the authentication services (GET /api/services), the
// seed's "verify your API key" call. The response wrapper is undocumented:
// data[], services[] and data.services[] are accepted.
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	var resp json.RawMessage
	if err := c.do(ctx, &call{op: "services", method: http.MethodGet, u: c.apiURL("/api/services", nil), idempotent: true, out: &resp}); err != nil {
		return nil, err
	}
	out, err := list[Service](resp, "data", "services")
	if err != nil {
		return nil, &DecodeError{Op: "services", Err: err}
	}
	return out, nil
}

// taxonomyList is the wrapper of the category and type endpoints:
// {message, category:"SUCCESS", data, rc_hit, rc_key, metadata} — with no
// "success" key.
type taxonomyList struct {
	Message  string          `json:"message"`
	Category string          `json:"category"`
	Data     json.RawMessage `json:"data"`
	Metadata *PageInfo       `json:"metadata"`
}

func (c *Client) taxonomy(ctx context.Context, op, path string, q url.Values) (*taxonomyList, error) {
	var resp taxonomyList
	if err := c.do(ctx, &call{op: op, method: http.MethodGet, u: c.apiURL(path, q), idempotent: true, out: &resp}); err != nil {
		return nil, err
	}
	return &resp, nil
}

// CategoryTree returns the category tree (GET /api/v2/categories/tree). The
// SDK sends active_only, the taxonomy guide activeOnly: both are sent.
func (c *Client) CategoryTree(ctx context.Context, activeOnly bool) ([]Category, error) {
	q := url.Values{}
	if activeOnly {
		q.Set("active_only", "true")
		q.Set("activeOnly", "true")
	}
	resp, err := c.taxonomy(ctx, "category tree", "/api/v2/categories/tree", q)
	if err != nil {
		return nil, err
	}
	out, err := list[Category](resp.Data, "categories", "tree", "data")
	if err != nil {
		return nil, &DecodeError{Op: "category tree", Err: err}
	}
	return out, nil
}

// ListQuery pages a list endpoint; PageSize is capped at 100 (documented
// maximum). Page numbers start at 1.
type ListQuery struct {
	Page, PageSize int
	Search         string
	ActiveOnly     bool
}

func (lq ListQuery) values(searchKey string) url.Values {
	q := url.Values{}
	if lq.Page > 0 {
		q.Set("page_number", strconv.Itoa(lq.Page))
	}
	if lq.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(min(lq.PageSize, 100)))
	}
	if lq.Search != "" {
		q.Set(searchKey, lq.Search)
	}
	if lq.ActiveOnly {
		q.Set("activeOnly", "true")
	}
	return q
}

// Categories lists categories, one page (GET /api/v2/categories).
func (c *Client) Categories(ctx context.Context, lq ListQuery) ([]Category, PageInfo, error) {
	resp, err := c.taxonomy(ctx, "categories", "/api/v2/categories", lq.values("search_query"))
	if err != nil {
		return nil, PageInfo{}, err
	}
	out, err := list[Category](resp.Data, "categories")
	if err != nil {
		return nil, PageInfo{}, &DecodeError{Op: "categories", Err: err}
	}
	var pi PageInfo
	if resp.Metadata != nil {
		pi = *resp.Metadata
	}
	return out, pi, nil
}

// Category reads one category (GET /api/v2/categories/{uuid}).
func (c *Client) Category(ctx context.Context, uuid string) (Category, error) {
	if err := checkID("category", uuid); err != nil {
		return Category{}, err
	}
	resp, err := c.taxonomy(ctx, "category", "/api/v2/categories/"+uuid, nil)
	if err != nil {
		return Category{}, err
	}
	var out Category
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		return Category{}, &DecodeError{Op: "category", Err: err}
	}
	return out, nil
}

// CategoryTypes lists a category's types (GET /api/v2/categories/{uuid}/types).
func (c *Client) CategoryTypes(ctx context.Context, category string) ([]Type, error) {
	if err := checkID("category", category); err != nil {
		return nil, err
	}
	resp, err := c.taxonomy(ctx, "category types", "/api/v2/categories/"+category+"/types", nil)
	if err != nil {
		return nil, err
	}
	out, err := list[Type](resp.Data, "types")
	if err != nil {
		return nil, &DecodeError{Op: "category types", Err: err}
	}
	return out, nil
}

// Types lists all types (GET /api/v2/types).
func (c *Client) Types(ctx context.Context) ([]Type, error) {
	resp, err := c.taxonomy(ctx, "types", "/api/v2/types", nil)
	if err != nil {
		return nil, err
	}
	out, err := list[Type](resp.Data, "types")
	if err != nil {
		return nil, &DecodeError{Op: "types", Err: err}
	}
	return out, nil
}

// Type reads one type with its brands (GET /api/v2/types/{uuid}).
func (c *Client) Type(ctx context.Context, uuid string) (Type, error) {
	if err := checkID("type", uuid); err != nil {
		return Type{}, err
	}
	resp, err := c.taxonomy(ctx, "type", "/api/v2/types/"+uuid, nil)
	if err != nil {
		return Type{}, err
	}
	var out Type
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		return Type{}, &DecodeError{Op: "type", Err: err}
	}
	return out, nil
}

// BrandsForType lists a type's brands (GET /api/v2/types/{uuid}/brands, SDK).
func (c *Client) BrandsForType(ctx context.Context, typ string) ([]Brand, error) {
	if err := checkID("type", typ); err != nil {
		return nil, err
	}
	resp, err := c.taxonomy(ctx, "type brands", "/api/v2/types/"+typ+"/brands", nil)
	if err != nil {
		return nil, err
	}
	out, err := list[Brand](resp.Data, "brands")
	if err != nil {
		return nil, &DecodeError{Op: "type brands", Err: err}
	}
	return out, nil
}

// Brands searches brands, one page (GET /api/v2/brands, SDK).
func (c *Client) Brands(ctx context.Context, lq ListQuery) ([]Brand, PageInfo, error) {
	resp, err := c.taxonomy(ctx, "brands", "/api/v2/brands", lq.values("search"))
	if err != nil {
		return nil, PageInfo{}, err
	}
	out, err := list[Brand](resp.Data, "brands")
	if err != nil {
		return nil, PageInfo{}, &DecodeError{Op: "brands", Err: err}
	}
	var pi PageInfo
	if resp.Metadata != nil {
		pi = *resp.Metadata
	}
	return out, pi, nil
}

// ModelQuery filters GET /api/v2/models.
type ModelQuery struct {
	Brand, Type, Category, Search string
}

// Models lists models (GET /api/v2/models); the list is under "models", not
// "data".
func (c *Client) Models(ctx context.Context, mq ModelQuery) ([]Model, error) {
	q := url.Values{}
	for k, v := range map[string]string{"brand_uuid": mq.Brand, "type_uuid": mq.Type, "category_uuid": mq.Category, "search_query": mq.Search} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var resp struct {
		Models json.RawMessage `json:"models"`
		Data   json.RawMessage `json:"data"`
	}
	if err := c.do(ctx, &call{op: "models", method: http.MethodGet, u: c.apiURL("/api/v2/models", q), idempotent: true, out: &resp}); err != nil {
		return nil, err
	}
	raw := resp.Models
	if len(raw) == 0 {
		raw = resp.Data
	}
	out, err := list[Model](raw, "models")
	if err != nil {
		return nil, &DecodeError{Op: "models", Err: err}
	}
	return out, nil
}

// srResponse is the wrapper of the SR endpoints: {success, message, sr}.
type srResponse struct {
	Success *bool  `json:"success"`
	Message string `json:"message"`
	SR      *SR    `json:"sr"`
	Data    *SR    `json:"data"` // tolerated for the undocumented find shape
}

func (r *srResponse) sr(op string) (SR, error) {
	s := r.SR
	if s == nil {
		s = r.Data
	}
	if s == nil || s.UUID == "" {
		return SR{}, &DecodeError{Op: op, Err: errors.New("no sr.uuid in response")}
	}
	return *s, nil
}

type createBody struct {
	ReferenceID string `json:"reference_id"`
	ExternalID  string `json:"external_id"`
	Service     string `json:"service,omitempty"`
	Source      string `json:"source,omitempty"`
	Item        struct {
		Category string `json:"category"`
		Type     string `json:"type"`
		Brand    string `json:"brand,omitempty"`
		Model    string `json:"model,omitempty"`
	} `json:"item"`
}

// CreateSR creates a draft SR (POST /api/v2/sr).
//
// It is not idempotent and no idempotency key is documented, so an attempt
// that may have reached the server unanswered is settled with
// GET /api/sr/find/{reference_id}: a found SR is returned as created; only
// a "not found" allows one more create. Anything still unsettled is an
// *AmbiguousError, which the workflow records for a later Settle.
func (c *Client) CreateSR(ctx context.Context, r CreateSR) (SR, error) {
	if err := checkID("reference id", r.ReferenceID); err != nil {
		return SR{}, err
	}
	if err := checkID("category", r.Category); err != nil {
		return SR{}, err
	}
	if err := checkID("type", r.Type); err != nil {
		return SR{}, err
	}
	var b createBody
	b.ReferenceID, b.ExternalID = r.ReferenceID, r.ReferenceID
	b.Service = r.Service
	if b.Service == "" {
		b.Service = c.cfg.Service
	}
	b.Source = r.Source
	b.Item.Category, b.Item.Type, b.Item.Brand, b.Item.Model = r.Category, r.Type, r.Brand, r.Model
	for round := 0; round < 2; round++ {
		var resp srResponse
		err := c.do(ctx, &call{op: "create sr", method: http.MethodPost, u: c.apiURL("/api/v2/sr", nil), body: &b, newSR: true, out: &resp})
		if err == nil {
			return resp.sr("create sr")
		}
		if !errors.Is(err, ErrAmbiguous) {
			return SR{}, err
		}
		c.log.Warn("create outcome unknown, settling by reference")
		sr, ferr := c.Find(ctx, r.ReferenceID)
		switch {
		case ferr == nil:
			return sr, nil
		case errors.Is(ferr, ErrNotFound):
			continue // provably not created: one more attempt
		default:
			return SR{}, err
		}
	}
	return SR{}, &AmbiguousError{Op: "create sr", Err: errors.New("not found after two unanswered attempts")}
}

// GetSR reads an SR with the given parts (GET /api/v2/sr/{uuid}).
func (c *Client) GetSR(ctx context.Context, uuid string, in Include) (SR, error) {
	if err := checkID("sr", uuid); err != nil {
		return SR{}, err
	}
	var resp srResponse
	if err := c.do(ctx, &call{op: "get sr", method: http.MethodGet, u: c.apiURL("/api/v2/sr/"+uuid, in.query()), idempotent: true, out: &resp}); err != nil {
		return SR{}, err
	}
	return resp.sr("get sr")
}

// SideGroups reads the requirements grouped (GET /api/v2/sr/{uuid}/side-groups).
func (c *Client) SideGroups(ctx context.Context, uuid string) ([]SideGroup, error) {
	if err := checkID("sr", uuid); err != nil {
		return nil, err
	}
	var resp struct {
		Data json.RawMessage `json:"data"`
	}
	if err := c.do(ctx, &call{op: "side groups", method: http.MethodGet, u: c.apiURL("/api/v2/sr/"+uuid+"/side-groups", nil), idempotent: true, out: &resp}); err != nil {
		return nil, err
	}
	out, err := list[SideGroup](resp.Data, "side_groups")
	if err != nil {
		return nil, &DecodeError{Op: "side groups", Err: err}
	}
	return out, nil
}

// Progress reads upload progress (GET /api/side-groups/progress?sr_id=).
func (c *Client) Progress(ctx context.Context, uuid string) (ProgressReport, error) {
	if err := checkID("sr", uuid); err != nil {
		return ProgressReport{}, err
	}
	var resp ProgressReport
	q := url.Values{"sr_id": {uuid}}
	if err := c.do(ctx, &call{op: "progress", method: http.MethodGet, u: c.apiURL("/api/side-groups/progress", q), idempotent: true, out: &resp}); err != nil {
		return ProgressReport{}, err
	}
	return resp, nil
}

// Submit submits an SR for authentication (POST /api/v2/sr/{uuid}/submit).
//
// Not idempotent: an unanswered attempt, and a 409 (which may be our own
// earlier attempt having landed), are settled by reading the SR. A state
// other than DRAFT or QC/REJECTED means it was submitted; otherwise one more
// submit is sent. The submit errors are undocumented; a 400 with
// validation/requirements-not-met unwraps to ErrNotMet.
func (c *Client) Submit(ctx context.Context, uuid string) (SR, error) {
	if err := checkID("sr", uuid); err != nil {
		return SR{}, err
	}
	var lastErr error
	for round := 0; round < 2; round++ {
		var resp srResponse
		err := c.do(ctx, &call{op: "submit", method: http.MethodPost, u: c.apiURL("/api/v2/sr/"+uuid+"/submit", nil), out: &resp})
		if err == nil {
			return resp.sr("submit")
		}
		if !errors.Is(err, ErrAmbiguous) && !errors.Is(err, ErrConflict) {
			return SR{}, err
		}
		lastErr = err
		c.log.Warn("submit outcome unknown, settling by state", zap.String("sr", uuid))
		sr, gerr := c.GetSR(ctx, uuid, Include{})
		if gerr != nil {
			if errors.Is(err, ErrConflict) {
				return SR{}, err
			}
			return SR{}, &AmbiguousError{Op: "submit", Err: err}
		}
		if !sr.State.Draft() && !sr.State.NeedsResubmission() {
			return sr, nil
		}
		if errors.Is(err, ErrConflict) {
			return SR{}, err // a real conflict: still unsubmitted
		}
	}
	return SR{}, &AmbiguousError{Op: "submit", Err: lastErr}
}

// Find looks an SR up by UUID, micro_id, legacy_id or external_id
// (GET /api/sr/find/{identifier}); public, so sent without credentials. The
// response shape is undocumented: sr or data is accepted.
func (c *Client) Find(ctx context.Context, identifier string) (SR, error) {
	if err := checkID("identifier", identifier); err != nil {
		return SR{}, err
	}
	var resp srResponse
	if err := c.do(ctx, &call{op: "find sr", method: http.MethodGet, u: c.apiURL("/api/sr/find/"+url.PathEscape(identifier), nil), idempotent: true, public: true, out: &resp}); err != nil {
		return SR{}, err
	}
	return resp.sr("find sr")
}

// RegisterActor registers an actor (POST /api/actor/users, older model) and
// returns its token, which is also saved in the TokenStore and used from
// then on. A 409 (already registered) is returned as ErrConflict: the look-up
// of an existing mapping is undocumented.
func (c *Client) RegisterActor(ctx context.Context, a ActorUser) (secret.String, error) {
	for name, v := range map[string]string{"actor_user_id": a.ActorUserID, "email": a.Email, "first_name": a.FirstName,
		"last_name": a.LastName, "business_name": a.BusinessName, "certificate_issuance_name": a.CertificateIssuanceName} {
		if strings.TrimSpace(v) == "" {
			return "", errors.Join(ErrBadInput, errors.New("legitmark: register actor: "+name+" is required"))
		}
	}
	var resp struct {
		Success *bool  `json:"success"`
		Message string `json:"message"`
		Data    struct {
			Token string `json:"legitmark_user_token"`
		} `json:"data"`
	}
	// Registration is older-model only and sends x-api-key without a user
	// token; a written-but-unanswered attempt is not resent (a second
	// registration would be a 409 with no documented look-up).
	if err := c.do(ctx, &call{op: "register actor", method: http.MethodPost, u: c.apiURL("/api/actor/users", nil), body: a, noUserToken: true, out: &resp}); err != nil {
		return "", err
	}
	tok := secret.String(strings.TrimSpace(resp.Data.Token))
	if tok == "" || checkSecret("token", string(tok)) != nil {
		return "", &DecodeError{Op: "register actor", Err: errors.New("no usable legitmark_user_token")}
	}
	c.setUserToken(tok)
	if c.tokens != nil {
		if err := c.tokens.SaveUserToken(ctx, tok); err != nil {
			return "", err
		}
	}
	return tok, nil
}
