package legitmark

import (
	"bytes"
	"encoding/json"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// FlexString decodes a JSON string, number or null into a string: micro_id is
// documented as a string but older examples show numbers, and legacy_id is
// often null.
type FlexString string

// UnmarshalJSON accepts a string, a number, a boolean or null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
	case b[0] == '{' || b[0] == '[':
		return &json.UnmarshalTypeError{Value: "object", Type: flexStringType}
	default:
		*f = FlexString(b) // number or boolean, verbatim
	}
	return nil
}

// Time decodes the API's timestamps (RFC 3339 with or without fraction, with
// Z or an offset, or a plain "2006-01-02 15:04:05") and null.
type Time struct{ time.Time }

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"}

// UnmarshalJSON accepts the documented layouts; anything else is the zero
// time rather than an error, so an odd timestamp never fails a whole SR.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) != nil || s == "" {
		t.Time = time.Time{}
		return nil
	}
	for _, l := range timeLayouts {
		if v, err := time.Parse(l, s); err == nil {
			t.Time = v
			return nil
		}
	}
	t.Time = time.Time{}
	return nil
}

// Ref is a reference to another object, which the API writes either as its
// UUID or as the object itself ({"uuid":…,"name":…}). The doc quirk
// "type":"undefined" decodes as an empty Ref.
type Ref struct {
	UUID string `json:"uuid"`
	Name string `json:"name,omitempty"`
}

// UnmarshalJSON accepts a string, an object with uuid (or id) and name, or
// null.
func (r *Ref) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*r = Ref{}
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "undefined" {
			r.UUID = s
		}
		return nil
	case b[0] == '{':
		var o struct {
			UUID string     `json:"uuid"`
			ID   FlexString `json:"id"`
			Name string     `json:"name"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		r.UUID, r.Name = o.UUID, o.Name
		if r.UUID == "" {
			r.UUID = string(o.ID)
		}
		return nil
	}
	return &json.UnmarshalTypeError{Value: "reference", Type: refType}
}

// Service is an authentication service (GET /api/services).
type Service struct {
	UUID        string     `json:"uuid"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Active      *bool      `json:"active,omitempty"`
	Price       FlexString `json:"price,omitempty"`
	Currency    string     `json:"currency,omitempty"`
}

// Category is a taxonomy node. The tree endpoint nests categories in
// Children and may inline their Types.
type Category struct {
	UUID        string     `json:"uuid"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Active      *bool      `json:"active,omitempty"`
	Parent      FlexString `json:"parent_id,omitempty"`
	Children    []Category `json:"children,omitempty"`
	Types       []Type     `json:"types,omitempty"`
}

// Type is an item type within a category; the type object includes its
// brands.
type Type struct {
	UUID     string  `json:"uuid"`
	Name     string  `json:"name"`
	Active   *bool   `json:"active,omitempty"`
	Category Ref     `json:"category,omitempty"`
	Brands   []Brand `json:"brands,omitempty"`
}

// Brand is a brand.
type Brand struct {
	UUID   string `json:"uuid"`
	Name   string `json:"name"`
	Active *bool  `json:"active,omitempty"`
}

// Model is a product model (GET /api/v2/models).
type Model struct {
	UUID     string `json:"uuid"`
	Name     string `json:"name"`
	Brand    Ref    `json:"brand,omitempty"`
	Type     Ref    `json:"type,omitempty"`
	Category Ref    `json:"category,omitempty"`
}

// PageInfo is the "metadata" of a paged list.
type PageInfo struct {
	TotalCount int `json:"total_count"`
	PageNumber int `json:"page_number"`
	TotalPages int `json:"total_pages"`
	PageSize   int `json:"page_size"`
}

// State is an SR's two-part state (remote-apis.md §2.7). Values outside the
// documented table are kept as they came.
type State struct {
	Primary    string `json:"primary"`
	Supplement string `json:"supplement"` // null decodes as ""
}

// Documented primary states and supplements.
const (
	StateDraft     = "DRAFT"
	StateQueue     = "QUEUE" // SDK type only
	StateQC        = "QC"
	StateUnderway  = "UNDERWAY"
	StateComplete  = "COMPLETE"
	StateCancelled = "CANCELLED"

	SupplementPending  = "PENDING"
	SupplementAssigned = "ASSIGNED"
	SupplementApproved = "APPROVED"
	SupplementRejected = "REJECTED"
	SupplementComplete = "COMPLETE"
)

// UnmarshalJSON accepts the object form and, tolerantly, a bare string
// ("DRAFT") or null.
func (s *State) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*s = State{}
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	if b[0] == '"' {
		return json.Unmarshal(b, &s.Primary)
	}
	var o struct {
		Primary    FlexString `json:"primary"`
		Supplement FlexString `json:"supplement"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	s.Primary, s.Supplement = strings.ToUpper(string(o.Primary)), strings.ToUpper(string(o.Supplement))
	return nil
}

// String returns "PRIMARY/SUPPLEMENT", or PRIMARY alone.
func (s State) String() string {
	if s.Supplement == "" {
		return s.Primary
	}
	return s.Primary + "/" + s.Supplement
}

// Draft reports whether the SR has not been submitted.
func (s State) Draft() bool { return s.Primary == StateDraft }

// Final reports whether the SR will not change any more: COMPLETE with any
// supplement, CANCELLED, or the fast-track QC/COMPLETE.
func (s State) Final() bool {
	return s.Primary == StateComplete || s.Primary == StateCancelled ||
		(s.Primary == StateQC && s.Supplement == SupplementComplete)
}

// Authentic reports COMPLETE/APPROVED.
func (s State) Authentic() bool {
	return s.Primary == StateComplete && s.Supplement == SupplementApproved
}

// Counterfeit reports COMPLETE/REJECTED (not authentic).
func (s State) Counterfeit() bool {
	return s.Primary == StateComplete && s.Supplement == SupplementRejected
}

// NeedsResubmission reports QC/REJECTED: re-upload the rejected sides and
// submit again.
func (s State) NeedsResubmission() bool {
	return s.Primary == StateQC && s.Supplement == SupplementRejected
}

// Settled reports whether polling can stop: final, or waiting for the
// station to resubmit.
func (s State) Settled() bool { return s.Final() || s.NeedsResubmission() }

// Item is the SR's item. The doc example has "type":"undefined" with the real
// type under "types"; both are read.
type Item struct {
	Category Ref `json:"category"`
	Type     Ref `json:"type"`
	Types    Ref `json:"types"`
	Brand    Ref `json:"brand"`
	Model    Ref `json:"model"`
}

// TypeRef returns Type, or Types when Type is empty (the doc quirk).
func (i *Item) TypeRef() Ref {
	if i.Type.UUID == "" && i.Type.Name == "" {
		return i.Types
	}
	return i.Type
}

// MediaVersion is one uploaded version of a side's image.
type MediaVersion struct {
	URL          string `json:"url"`
	VersionID    string `json:"version_id,omitempty"`
	LastModified Time   `json:"last_modified"`
	Size         int64  `json:"size,omitempty"`
	IsLatest     bool   `json:"is_latest,omitempty"`
}

// UnmarshalJSON accepts the object form or a bare URL string.
func (m *MediaVersion) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*m = MediaVersion{}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &m.URL)
	}
	type plain MediaVersion
	return json.Unmarshal(b, (*plain)(m))
}

// Side is one photo the SR needs (or accepts), with the template images for
// guided capture.
type Side struct {
	UUID            string         `json:"uuid"`
	Name            string         `json:"name"`
	Description     string         `json:"description,omitempty"`
	Ordinal         FlexString     `json:"ordinal,omitempty"`
	Required        bool           `json:"required"`
	Active          *bool          `json:"active,omitempty"`
	SideGroupID     FlexString     `json:"side_group_id,omitempty"`
	SideGroupName   string         `json:"side_group_name,omitempty"`
	OverlayImage    string         `json:"overlay_image,omitempty"`
	ExampleImage    string         `json:"example_image,omitempty"`
	ThumbnailImage  string         `json:"thumbnail_image,omitempty"`
	IsThumbnail     bool           `json:"is_thumbnail,omitempty"`
	AssignmentLevel string         `json:"assignment_level,omitempty"`
	InheritedFrom   FlexString     `json:"inherited_from,omitempty"`
	MediaURL        []MediaVersion `json:"media_url,omitempty"`
}

// HasMedia reports whether the side has an uploaded image.
func (s *Side) HasMedia() bool { return len(s.MediaURL) > 0 }

// Progress counts uploaded images against the requirements.
type Progress struct {
	CurrentRequired int  `json:"current_required"`
	TotalRequired   int  `json:"total_required"`
	CurrentOptional int  `json:"current_optional"`
	TotalOptional   int  `json:"total_optional"`
	Met             bool `json:"met"`
}

// Sides is sr.sides: the requirements and their progress.
type Sides struct {
	Required []Side    `json:"required"`
	Optional []Side    `json:"optional"`
	Progress *Progress `json:"progress,omitempty"`
}

// Missing returns the required sides without an image.
func (s *Sides) Missing() []Side {
	var out []Side
	for _, sd := range s.Required {
		if !sd.HasMedia() {
			out = append(out, sd)
		}
	}
	return out
}

// All returns the required sides, then the optional ones.
func (s *Sides) All() []Side {
	out := make([]Side, 0, len(s.Required)+len(s.Optional))
	return append(append(out, s.Required...), s.Optional...)
}

// SideGroup is a group of sides (GET /api/v2/sr/{uuid}/side-groups).
type SideGroup struct {
	UUID        string `json:"uuid"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Lock        bool   `json:"lock,omitempty"`
	Sides       []Side `json:"sides"`
}

// SR is a service request as read by GET /api/v2/sr/{uuid}; which parts are
// present depends on the include flags.
type SR struct {
	UUID           string          `json:"uuid"`
	Active         *bool           `json:"active,omitempty"`
	MicroID        FlexString      `json:"micro_id"`
	LegacyID       FlexString      `json:"legacy_id,omitempty"`
	ExternalID     FlexString      `json:"external_id,omitempty"`
	Tab            string          `json:"tab,omitempty"`
	Source         string          `json:"source,omitempty"`
	State          State           `json:"state"`
	CertificateURL string          `json:"certificate_url,omitempty"`
	User           Ref             `json:"user,omitempty"`
	Service        Ref             `json:"service,omitempty"`
	Item           *Item           `json:"item,omitempty"`
	Sides          *Sides          `json:"sides,omitempty"`
	Summary        json.RawMessage `json:"summary,omitempty"`
	Outcome        json.RawMessage `json:"outcome,omitempty"`
	CreatedAt      Time            `json:"created_at"`
	UpdatedAt      Time            `json:"updated_at"`
	DraftedAt      Time            `json:"drafted_at"`
}

// Include selects the optional parts of GET /api/v2/sr/{uuid}. The first
// seven are documented; the rest are known to the SDK.
type Include struct {
	Summary, User, Service, Outcome, Item, Sides, Requirements bool
	Stages, Tab, Risk, Authenticators, Workflows, Partner      bool
}

// IncludeRequirements is the include set for reading sides with requirements and
// progress: item, sides and requirements (the seed's
// "requirements=true&sides=true" omits the item=true they depend on).
var IncludeRequirements = Include{Item: true, Sides: true, Requirements: true}

// query encodes the flags, adding the documented dependencies: sides needs
// item; requirements needs item and sides ("parameters with dependencies
// have no effect unless their required params are also set").
func (in Include) query() url.Values {
	if in.Requirements {
		in.Sides = true
	}
	if in.Sides {
		in.Item = true
	}
	q := url.Values{}
	for _, f := range []struct {
		name string
		on   bool
	}{
		{"summary", in.Summary}, {"user", in.User}, {"service", in.Service}, {"outcome", in.Outcome},
		{"item", in.Item}, {"sides", in.Sides}, {"requirements", in.Requirements},
		{"stages", in.Stages}, {"tab", in.Tab}, {"risk", in.Risk},
		{"authenticators", in.Authenticators}, {"workflows", in.Workflows}, {"partner", in.Partner},
	} {
		if f.on {
			q.Set(f.name, "true")
		}
	}
	return q
}

// CreateSR is the body of POST /api/v2/sr. The documentation generations
// disagree on the reference field (reference_id in the API reference,
// external_id in the SDK) and on which item fields are required; both
// reference fields are sent with the same value, and brand and model are
// sent when known ("highly recommended").
type CreateSR struct {
	ReferenceID string // required: a non-PII station reference, unique per SR
	Service     string // optional: "auto-resolved" by the current API
	Category    string // required UUID
	Type        string // required UUID
	Brand       string // optional UUID
	Model       string // optional UUID
	Source      string // optional, e.g. "api"
}

// ActorUser is the body of POST /api/actor/users (older model, §2.3). It
// carries PII: send it once from an operator action, never log it.
type ActorUser struct {
	ActorUserID             string `json:"actor_user_id"`
	Email                   string `json:"email"`
	FirstName               string `json:"first_name"`
	LastName                string `json:"last_name"`
	BusinessName            string `json:"business_name"`
	CertificateIssuanceName string `json:"certificate_issuance_name"`
}

// ProgressReport is GET /api/side-groups/progress. A Warning or S3Error means
// the counts may be stale: a Met of false is not trustworthy.
type ProgressReport struct {
	Progress    Progress `json:"progress"`
	LastUpdated Time     `json:"last_updated"`
	Warning     string   `json:"warning,omitempty"`
	S3Error     bool     `json:"s3_error,omitempty"`
}

// Trustworthy reports whether the counts come without a warning.
func (p *ProgressReport) Trustworthy() bool { return !p.S3Error && p.Warning == "" }

// RateLimit is the last X-RateLimit-* headers seen; -1 for a header that was
// absent.
type RateLimit struct {
	LimitActor, RemainingActor int
	LimitUser, RemainingUser   int
	At                         time.Time
}

func atoiOr(s string, def int) int {
	s = strings.TrimSpace(s)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return v
}

var (
	flexStringType = reflect.TypeFor[FlexString]()
	refType        = reflect.TypeFor[Ref]()
)
