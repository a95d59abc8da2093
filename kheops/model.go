package kheops

import "encoding/json"

// Study is a study as KHEOPS describes it in JSON (webhook bodies carry
// one). Fields absent from a document keep their zero value. DICOM dates
// and times are kept as KHEOPS sends them (DA "YYYYMMDD", TM "HHMMSS...").
type Study struct {
	PatientName            string   `json:"patient_name,omitempty"`
	PatientID              string   `json:"patient_ID,omitempty"`
	StudyUID               string   `json:"study_uid,omitempty"`
	StudyDate              string   `json:"study_date,omitempty"`
	StudyTime              string   `json:"study_time,omitempty"`
	TimezoneOffsetFromUTC  string   `json:"timezone_offset_from_utc,omitempty"`
	StudyDescription       string   `json:"study_description,omitempty"`
	StudyID                string   `json:"study_id,omitempty"`
	AccessionNumber        string   `json:"accession_number,omitempty"`
	ReferringPhysicianName string   `json:"referring_physician_name,omitempty"`
	PatientBirthDate       string   `json:"patient_birth_date,omitempty"`
	PatientSex             string   `json:"patient_sex,omitempty"`
	RetrieveURL            string   `json:"retrieve_url,omitempty"`
	Series                 []Series `json:"series,omitempty"`
}

// Series is a series as KHEOPS describes it in JSON, inside a [Study].
type Series struct {
	Modality                       string `json:"modality,omitempty"`
	SeriesDescription              string `json:"series_description,omitempty"`
	SeriesUID                      string `json:"series_uid,omitempty"`
	NumberOfSeriesRelatedInstances int    `json:"number_of_series_related_instances,omitempty"`
	TimeZoneOffsetFromUTC          string `json:"time_zone_offset_from_utc,omitempty"`
	SeriesNumber                   int    `json:"series_number,omitempty"`
	BodyPartExamined               string `json:"body_part_examined,omitempty"`
	RetrieveURL                    string `json:"retrieve_url,omitempty"`
	// NumberOfNewInstances is set in webhook bodies: how many instances
	// of the series the event added.
	NumberOfNewInstances int `json:"number_of_new_instances,omitempty"`
}

// User is a KHEOPS user as described in JSON: the member a new_user event
// adds, or the source of an event. When the actor was a report provider
// or a capability token rather than a person, ReportProvider or
// CapabilityToken says which.
type User struct {
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	Sub   string `json:"sub,omitempty"`
	// ReportProvider is set when a report provider acted for the user.
	ReportProvider *ReportProvider `json:"report_provider,omitempty"`
	// CapabilityToken is the capability token's JSON document, as KHEOPS
	// sent it, when the actor used a capability token; nil otherwise. It
	// never holds the token's secret.
	CapabilityToken json.RawMessage `json:"capability_token,omitempty"`
	// IsAdmin, in an album's member list, says the user is an admin.
	IsAdmin bool `json:"is_admin,omitempty"`
	// StudyAccess and AlbumAccess answer a user search made with a study
	// or an album: whether the user can already see it.
	StudyAccess bool `json:"study_access,omitempty"`
	AlbumAccess bool `json:"album_access,omitempty"`
}

// ReportProvider is a report provider registered in an album: as the
// actor of an event (in a [User]: Name, ClientID, IsRemoved) or as
// [Client.ReportProviders] lists it (Name, ClientID, URL, CreatedTime).
type ReportProvider struct {
	Name        string `json:"name,omitempty"`
	ClientID    string `json:"client_id,omitempty"`
	IsRemoved   bool   `json:"is_removed,omitempty"`
	URL         string `json:"url,omitempty"` // its configuration document
	CreatedTime Time   `json:"created_time,omitempty"`
}

// Album is an album as KHEOPS describes it. Which fields are present
// depends on the token (an album capability token sees fewer); absent
// fields keep their zero value. Times are UTC.
type Album struct {
	ID                string   `json:"album_id"`
	Name              string   `json:"name"`
	Description       string   `json:"description"`
	Modalities        []string `json:"modalities"`
	CreatedTime       Time     `json:"created_time"`
	LastEventTime     Time     `json:"last_event_time"`
	Users             []User   `json:"users"` // only from [Client.Album] with users
	NumberOfUsers     int      `json:"number_of_users"`
	NumberOfComments  int      `json:"number_of_comments"`
	NumberOfStudies   int      `json:"number_of_studies"`
	NumberOfSeries    int      `json:"number_of_series"`
	NumberOfInstances int      `json:"number_of_instances"`
	// AlbumPermissions is what non-admin members may do.
	AlbumPermissions
	IsFavorite             bool `json:"is_favorite"`
	NotificationNewSeries  bool `json:"notification_new_series"`
	NotificationNewComment bool `json:"notification_new_comment"`
	IsAdmin                bool `json:"is_admin"` // the caller is an admin
}

// AlbumPermissions are the six flags that say what an album's non-admin
// members may do. In [Album] they are KHEOPS's answer; in [AlbumSettings]
// a nil field leaves KHEOPS's value (on create: add_user and
// delete_series false, the others true).
type AlbumPermissions struct {
	AddUser        bool `json:"add_user"`
	DownloadSeries bool `json:"download_series"`
	SendSeries     bool `json:"send_series"`
	DeleteSeries   bool `json:"delete_series"`
	AddSeries      bool `json:"add_series"`
	WriteComments  bool `json:"write_comments"`
}

// Capability is a capability token's description. Secret is set only in
// the answer to [Client.CreateCapability]: KHEOPS stores a hash and never
// shows the token again. Album, CreatedBy and the permissions are set for
// album-scope tokens only.
type Capability struct {
	ID         string `json:"id"`
	Secret     Token  `json:"access_token"`
	Title      string `json:"title"`
	ScopeType  string `json:"scope_type"` // "user" or "album"
	Album      *Album `json:"album"`
	IssuedAt   Time   `json:"issued_at_time"`
	NotBefore  Time   `json:"not_before_time"`
	Expiration Time   `json:"expiration_time"`
	LastUsed   Time   `json:"last_used"`
	RevokeTime Time   `json:"revoke_time"`
	Revoked    bool   `json:"revoked"`
	CapabilityPermissions
	CreatedBy *User `json:"created_by"`
	RevokedBy *User `json:"revoked_by"`
}

// CapabilityPermissions are what a capability token may do: read (search
// and retrieve), write (add series), download (needs read) and
// appropriate (copy to the user's inbox; needs read).
type CapabilityPermissions struct {
	Read        bool `json:"read_permission"`
	Write       bool `json:"write_permission"`
	Download    bool `json:"download_permission"`
	Appropriate bool `json:"appropriate_permission"`
}

// Webhook is a webhook's description. The secret is never returned:
// UseSecret says whether one is set. Triggers is filled by
// [Client.Webhook] only; LastTriggers (the 5 newest) by lists and edits.
type Webhook struct {
	ID               string    `json:"id"`
	URL              string    `json:"url"`
	Name             string    `json:"name"`
	UseSecret        bool      `json:"use_secret"`
	Events           []string  `json:"events"`
	Enabled          bool      `json:"enabled"`
	NumberOfTriggers int       `json:"number_of_triggers"`
	LastTriggers     []Trigger `json:"last_triggers"`
	Triggers         []Trigger `json:"triggers"`
}

// Attempt is one delivery attempt: the partner's HTTP status (-1 when
// the connection failed), its time, and its number (1 to 5).
type Attempt struct {
	Status  int  `json:"status"`
	Time    Time `json:"time"`
	Attempt int  `json:"attempt"`
}

// Trigger is one event KHEOPS sent (or tried to send) to a webhook. In
// LastTriggers only ID and Status ("pass" when an attempt got a 2xx,
// else "fail") are set; in Triggers the other fields.
type Trigger struct {
	ID              string    `json:"id"`
	Status          string    `json:"status"`
	Event           string    `json:"event"`
	IsManualTrigger bool      `json:"is_manual_trigger"`
	Attempts        []Attempt `json:"attempts"`
	User            *User     `json:"user"`
	Study           *Study    `json:"study"`
}

// Event is an entry of an album's or a study's history: a comment
// (Type "Comment") or a change (Type "Mutation", with MutationType such
// as "ADD_USER" or "IMPORT_SERIES"). Study is KHEOPS's own summary
// ({"UID","description","series":[{"UID","description",
// "is_present_in_album"}]}), kept raw.
type Event struct {
	Type           string          `json:"event_type"`
	Source         *User           `json:"source"`
	PostDate       Time            `json:"post_date"`
	Comment        string          `json:"comment"`
	IsPrivate      bool            `json:"is_private"`
	Target         *User           `json:"target"`
	MutationType   string          `json:"mutation_type"`
	ReportProvider *ReportProvider `json:"report_provider"`
	Study          json.RawMessage `json:"study"`
}

// InboxInfo summarises the caller's inbox.
type InboxInfo struct {
	Modalities        []string `json:"modalities"`
	NumberOfStudies   int      `json:"number_of_studies"`
	NumberOfSeries    int      `json:"number_of_series"`
	NumberOfInstances int      `json:"number_of_instances"`
}
