package verifyclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
)

// Every response type decodes tolerantly (remote-apis.md §3.2): unknown
// fields are ignored, optional and nullable fields are pointers, fields
// whose type differs between endpoints (tamper, page content) stay raw
// JSON, and timestamps keep their text next to the parsed time (the docs
// use both "…000Z" and "+00:00").

// Timestamp is a time as the API writes it: Raw is the text, Time its
// RFC 3339 reading (zero when Raw is empty or not RFC 3339).
type Timestamp struct {
	Raw  string
	Time time.Time
}

// UnmarshalJSON accepts a string or null.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Timestamp{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("timestamp: not a string")
	}
	t.Raw = s
	t.Time, _ = time.Parse(time.RFC3339Nano, s)
	return nil
}

// MarshalJSON writes Raw, or null.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.Raw == "" {
		return []byte("null"), nil
	}
	return json.Marshal(t.Raw)
}

// VerifyResponse is the success body of tags/verify (§1.3 #1).
type VerifyResponse struct {
	UID                string  `json:"uid"`
	Verified           bool    `json:"verified"`
	NFTChainID         *int64  `json:"nft_chain_id,omitempty"`
	NFTContractAddress *string `json:"nft_contract_address,omitempty"`
	NFTTokenID         *int64  `json:"nft_token_id,omitempty"`
	Name               *string `json:"name,omitempty"`
	Description        *string `json:"description,omitempty"`
	ImageURL           *string `json:"image_url,omitempty"`
	AnimationURL       *string `json:"animation_url,omitempty"`
	SKUID              *int64  `json:"sku_id,omitempty"`
	SerialNumber       *int64  `json:"serial_number,omitempty"`
}

// PageContent is the page_content object of cmac/validate and cmac/latest.
type PageContent struct {
	Type    json.RawMessage `json:"type,omitempty"`
	Version json.RawMessage `json:"version,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Options json.RawMessage `json:"options,omitempty"`
}

// TagInfo is the tag object of cmac/validate and cmac/latest (§1.3 #2).
type TagInfo struct {
	UID                       string          `json:"uid"`
	Tamper                    json.RawMessage `json:"tamper,omitempty"`
	Counter                   *int64          `json:"counter,omitempty"`
	CreatedAt                 Timestamp       `json:"created_at"`
	UpdatedAt                 Timestamp       `json:"updated_at"`
	Name                      *string         `json:"name,omitempty"`
	Description               *string         `json:"description,omitempty"`
	ImageURL                  *string         `json:"image_url,omitempty"`
	AnimationURL              *string         `json:"animation_url,omitempty"`
	Notes                     *string         `json:"notes,omitempty"`
	RedirectURL               *string         `json:"redirect_url,omitempty"`
	TemplateID                *int64          `json:"template_id,omitempty"`
	PageContent               *PageContent    `json:"page_content,omitempty"`
	Shareable                 *bool           `json:"shareable,omitempty"`
	NFTChainID                *int64          `json:"nft_chain_id,omitempty"`
	NFTContractAddress        *string         `json:"nft_contract_address,omitempty"`
	NFTTokenID                *int64          `json:"nft_token_id,omitempty"`
	ContractVersion           *int64          `json:"contract_version,omitempty"`
	Verifications             *int64          `json:"verifications,omitempty"`
	ExternalVerifications     *int64          `json:"external_verifications,omitempty"`
	QC                        *bool           `json:"qc,omitempty"`
	TamperEnabled             *bool           `json:"tamper_enabled,omitempty"`
	LoginType                 *int64          `json:"login_type,omitempty"`
	HeaderLogoURL             *string         `json:"header_logo_url,omitempty"`
	BuilderIOAPIKey           *string         `json:"builder_io_api_key,omitempty"`
	BuilderIOURL              *string         `json:"builder_io_url,omitempty"`
	TagViewVerificationsCount *int64          `json:"tag_view_verifications_count,omitempty"`
	OwnerAddress              *string         `json:"owner_address,omitempty"`
	EmailMarketingConsent     json.RawMessage `json:"email_marketing_consent,omitempty"`
	ClaimCount                *int64          `json:"claim_count,omitempty"`
	ResetCount                *int64          `json:"reset_count,omitempty"`
	PageType                  *string         `json:"page_type,omitempty"`
	TotalTagsCount            *int64          `json:"total_tags_count,omitempty"`
	SerialNumber              *int64          `json:"serial_number,omitempty"`
	OwnerEmail                *string         `json:"owner_email,omitempty"`
}

// ValidateResponse is the success body of tags/cmac/validate (§1.3 #2).
type ValidateResponse struct {
	CMACVerified bool         `json:"cmac_verified"`
	PageContent  *PageContent `json:"page_content,omitempty"`
	Tag          *TagInfo     `json:"tag,omitempty"`
}

// LatestVerification is the verification entry of tags/cmac/latest.
type LatestVerification struct {
	ID        int64     `json:"id"`
	TagID     int64     `json:"tag_id"`
	CMAC      string    `json:"cmac"`
	CreatedAt Timestamp `json:"created_at"`
	UpdatedAt Timestamp `json:"updated_at"`
}

// LatestResponse is the success body of tags/cmac/latest (§1.3 #3): the
// validate body plus the latest registered verification.
type LatestResponse struct {
	CMACVerified bool                `json:"cmac_verified"`
	PageContent  *PageContent        `json:"page_content,omitempty"`
	Tag          *TagInfo            `json:"tag,omitempty"`
	Verification *LatestVerification `json:"verification,omitempty"`
}

// TxResponse is the success body of tags/claim and tags/recover: the hash
// of an on-chain transaction that may not be confirmed yet.
type TxResponse struct {
	Hash string `json:"hash"`
}

// CustomVerificationType names a dashboard-defined verification type.
type CustomVerificationType struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Verification is one entry of verifications/{uid} (§1.3 #6).
type Verification struct {
	CreatedAt              Timestamp               `json:"created_at"`
	VerifyType             string                  `json:"verify_type"`
	CustomVerificationType *CustomVerificationType `json:"custom_verification_type,omitempty"`
	UID                    string                  `json:"uid"`
	Tamper                 json.RawMessage         `json:"tamper,omitempty"`
	Counter                *int64                  `json:"counter,omitempty"`
	City                   *string                 `json:"city,omitempty"`
	Region                 *string                 `json:"region,omitempty"`
	Country                *string                 `json:"country,omitempty"`
	Latitude               *float64                `json:"latitude,omitempty"`
	Longitude              *float64                `json:"longitude,omitempty"`
}

// VerificationsResponse is the success body of verifications/{uid}.
type VerificationsResponse struct {
	Verifications []Verification `json:"verifications"`
}

// Transfer is one entry of transfers/{uid} (§1.3 #7). E-mails come masked.
type Transfer struct {
	ID              int64     `json:"id"`
	TagUID          string    `json:"tag_uid"`
	NFTTokenID      *int64    `json:"nft_token_id,omitempty"`
	SenderAddress   *string   `json:"sender_address,omitempty"`
	ReceiverAddress *string   `json:"receiver_address,omitempty"`
	TransferType    string    `json:"transfer_type"`
	CreatedAt       Timestamp `json:"created_at"`
	SenderEmail     *string   `json:"sender_email,omitempty"`
	ReceiverEmail   *string   `json:"receiver_email,omitempty"`
}

// TransfersResponse is the success body of transfers/{uid}.
type TransfersResponse struct {
	Transfers []Transfer `json:"transfers"`
}

// ConsentResponse is the success body of marketing_consent (§1.3 #8).
type ConsentResponse struct {
	Message struct {
		EmailMarketingConsent string `json:"email_marketing_consent"`
	} `json:"message"`
}

// errDecode is the cause inside ErrMalformedResponse errors.
var errDecode = errors.New("body is not the documented JSON object")

// errErrorKey reports a success status whose body carries an error key:
// the official client treats it as a failure (§1.3 #1).
var errErrorKey = errors.New("success status with an error body")

// decodeBody decodes a success body into v. It fails on anything but a
// JSON object and on an object with an "errors" or "error" key.
func decodeBody[T any](b []byte) (T, error) {
	var zero, v T
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return zero, errDecode
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return zero, errDecode
	}
	if hasErrorKey(top) {
		return zero, errErrorKey
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return zero, errDecode
	}
	return v, nil
}

func hasErrorKey(top map[string]json.RawMessage) bool {
	for _, k := range []string{"errors", "error"} {
		if v, ok := top[k]; ok && string(bytes.TrimSpace(v)) != "null" {
			return true
		}
	}
	return false
}

// DecodeVerify decodes a tags/verify success body.
func DecodeVerify(b []byte) (VerifyResponse, error) { return decodeBody[VerifyResponse](b) }

// DecodeValidate decodes a tags/cmac/validate success body.
func DecodeValidate(b []byte) (ValidateResponse, error) { return decodeBody[ValidateResponse](b) }

// DecodeLatest decodes a tags/cmac/latest success body.
func DecodeLatest(b []byte) (LatestResponse, error) { return decodeBody[LatestResponse](b) }

// DecodeTx decodes a tags/claim or tags/recover success body; the hash
// must be present.
func DecodeTx(b []byte) (TxResponse, error) {
	v, err := decodeBody[TxResponse](b)
	if err == nil && v.Hash == "" {
		return TxResponse{}, errDecode
	}
	return v, err
}

// DecodeVerifications decodes a verifications/{uid} success body.
func DecodeVerifications(b []byte) (VerificationsResponse, error) {
	return decodeBody[VerificationsResponse](b)
}

// DecodeTransfers decodes a transfers/{uid} success body.
func DecodeTransfers(b []byte) (TransfersResponse, error) { return decodeBody[TransfersResponse](b) }

// DecodeConsent decodes a marketing_consent success body.
func DecodeConsent(b []byte) (ConsentResponse, error) { return decodeBody[ConsentResponse](b) }
