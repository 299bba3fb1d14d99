// Package v2alpha1 holds the skupper.io/v2alpha1 resource types that skupperd
// reads from a namespace's input directory, plus the core v1 Secret that
// `skupper link generate` emits.
//
// Field names, JSON tags and documented defaults follow the Skupper reference
// (shared/seeds/skupper-reference.md). Decoding is strict (see Decode):
// unknown fields, wrong scalar types and duplicate keys are errors with file
// and line. Validation (see Validate) reports every problem at once.
//
// The package never touches the disk: callers hand it bytes and get back typed
// documents and diagnostics.
package v2alpha1

// API group versions and kinds accepted in input.
const (
	GroupVersion = "skupper.io/v2alpha1"
	CoreVersion  = "v1"

	KindSite                     = "Site"
	KindLink                     = "Link"
	KindListener                 = "Listener"
	KindConnector                = "Connector"
	KindRouterAccess             = "RouterAccess"
	KindAccessToken              = "AccessToken"
	KindAccessGrant              = "AccessGrant"
	KindAttachedConnector        = "AttachedConnector"
	KindAttachedConnectorBinding = "AttachedConnectorBinding"
	KindSecret                   = "Secret"
)

// Kinds lists every accepted kind in a stable order (the order in which
// status tables and summaries list them).
var Kinds = []string{
	KindSite, KindRouterAccess, KindLink, KindAccessGrant, KindAccessToken,
	KindListener, KindConnector, KindAttachedConnector, KindAttachedConnectorBinding,
	KindSecret,
}

// TypeMeta identifies the kind of a document.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// ObjectMeta is the subset of Kubernetes object metadata that skupperd
// accepts. Fields written by Kubernetes tooling that carry no meaning here
// (creationTimestamp, resourceVersion, generation) are accepted so that files
// exported from a cluster apply unchanged.
type ObjectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	CreationTimestamp string            `json:"creationTimestamp,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
}

// StatusType is the aggregate state of a resource.
type StatusType string

// Aggregate states.
const (
	StatusPending StatusType = "Pending"
	StatusReady   StatusType = "Ready"
	StatusError   StatusType = "Error"
)

// Condition types used in status.
const (
	ConditionConfigured  = "Configured"
	ConditionRunning     = "Running"
	ConditionResolved    = "Resolved"
	ConditionReady       = "Ready"
	ConditionMatched     = "Matched"
	ConditionOperational = "Operational"
	ConditionRedeemed    = "Redeemed"
	ConditionProcessed   = "Processed"
)

// ConditionRedeemable is set (False) on an AccessGrant whose tokens can no
// longer be redeemed, with reason ReasonExpired or ReasonUsedUp.
const ConditionRedeemable = "Redeemable"

// Reasons of an AccessGrant that is no longer Redeemable.
const (
	ReasonExpired = "Expired"
	ReasonUsedUp  = "UsedUp"
)

// ReasonPortInUse is the reason of a False Operational condition of a
// Listener, RouterAccess or Site whose router listener cannot listen
// because another process holds its port.
const ReasonPortInUse = "PortInUse"

// ReasonUnreachable is the reason of an AccessToken's Redeemed condition
// while its grant server cannot be reached (skupperd keeps retrying).
const ReasonUnreachable = "Unreachable"

// Condition is one named aspect of a resource's state, as in Kubernetes.
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"` // True, False or Unknown
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"` // RFC 3339
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
}

// ResourceStatus is the status every kind carries.
type ResourceStatus struct {
	StatusType StatusType  `json:"status,omitempty"`
	Message    string      `json:"message,omitempty"`
	Conditions []Condition `json:"conditions,omitempty"`
}

// Endpoint is a connection endpoint (Site, RouterAccess status and Link spec).
// Port is a string on the wire (upstream writes "55671"); input may also give
// a number.
type Endpoint struct {
	Name  string     `json:"name,omitempty"`
	Host  string     `json:"host,omitempty"`
	Port  PortString `json:"port,omitempty"`
	Group string     `json:"group,omitempty"`
}

// PortString is a port carried as a string. The decoder accepts a YAML
// integer or string for it.
type PortString string

// ---- Site

// Site is the basis of a site's configuration; exactly one per namespace.
type Site struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       SiteSpec   `json:"spec,omitzero"`
	Status     SiteStatus `json:"status,omitzero"`
}

// Link access values.
const (
	LinkAccessNone         = "none"
	LinkAccessDefault      = "default"
	LinkAccessRoute        = "route"
	LinkAccessLoadBalancer = "loadbalancer"
)

// Site settings keys.
const (
	SettingRouterDataConnections = "routerDataConnections"
	SettingRouterLogging         = "routerLogging"
	SettingObserver              = "observer"
)

// SiteSpec is the desired state of a Site.
type SiteSpec struct {
	LinkAccess     string            `json:"linkAccess,omitempty"`
	HA             bool              `json:"ha,omitempty"`
	DefaultIssuer  string            `json:"defaultIssuer,omitempty"`
	Edge           bool              `json:"edge,omitempty"`
	ServiceAccount string            `json:"serviceAccount,omitempty"`
	Settings       map[string]string `json:"settings,omitempty"`
}

// LinkAccessEnabled reports whether the site accepts links.
func (s *SiteSpec) LinkAccessEnabled() bool {
	return s.LinkAccess != "" && s.LinkAccess != LinkAccessNone
}

// SiteStatus is the observed state of a Site.
type SiteStatus struct {
	ResourceStatus `json:",inline"`
	DefaultIssuer  string       `json:"defaultIssuer,omitempty"`
	Endpoints      []Endpoint   `json:"endpoints,omitempty"`
	Network        []SiteRecord `json:"network,omitempty"`
	SitesInNetwork int          `json:"sitesInNetwork,omitempty"`
}

// SiteRecord describes one site of the network as seen from here.
type SiteRecord struct {
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Namespace string          `json:"namespace,omitempty"`
	Platform  string          `json:"platform,omitempty"`
	Version   string          `json:"version,omitempty"`
	Links     []LinkRecord    `json:"links,omitempty"`
	Services  []ServiceRecord `json:"services,omitempty"`
}

// LinkRecord is a link of a SiteRecord.
type LinkRecord struct {
	Name           string `json:"name,omitempty"`
	RemoteSiteID   string `json:"remoteSiteId,omitempty"`
	RemoteSiteName string `json:"remoteSiteName,omitempty"`
	Operational    bool   `json:"operational,omitempty"`
}

// ServiceRecord is a service (routing key) of a SiteRecord.
type ServiceRecord struct {
	RoutingKey string   `json:"routingKey,omitempty"`
	Connectors []string `json:"connectors,omitempty"`
	Listeners  []string `json:"listeners,omitempty"`
}

// ---- Link

// Link is a channel to a remote site.
type Link struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       LinkSpec   `json:"spec,omitzero"`
	Status     LinkStatus `json:"status,omitzero"`
}

// LinkSpec is the desired state of a Link.
type LinkSpec struct {
	Endpoints      []Endpoint        `json:"endpoints,omitempty"`
	Cost           int               `json:"cost,omitempty"`
	TLSCredentials string            `json:"tlsCredentials,omitempty"`
	Settings       map[string]string `json:"settings,omitempty"`
}

// LinkStatus is the observed state of a Link.
type LinkStatus struct {
	ResourceStatus `json:",inline"`
	RemoteSiteID   string `json:"remoteSiteId,omitempty"`
	RemoteSiteName string `json:"remoteSiteName,omitempty"`
}

// ---- Listener

// Listener binds a local endpoint to connectors in remote sites.
type Listener struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ListenerSpec   `json:"spec,omitzero"`
	Status     ListenerStatus `json:"status,omitzero"`
}

// ListenerSpec is the desired state of a Listener.
type ListenerSpec struct {
	RoutingKey       string            `json:"routingKey,omitempty"`
	Host             string            `json:"host,omitempty"`
	Port             int               `json:"port,omitempty"`
	Type             string            `json:"type,omitempty"`
	ExposePodsByName bool              `json:"exposePodsByName,omitempty"`
	TLSCredentials   string            `json:"tlsCredentials,omitempty"`
	Settings         map[string]string `json:"settings,omitempty"`
}

// ListenerStatus is the observed state of a Listener.
type ListenerStatus struct {
	ResourceStatus       `json:",inline"`
	HasMatchingConnector bool `json:"hasMatchingConnector,omitempty"`
}

// ---- Connector

// Connector binds a local workload to listeners in remote sites.
type Connector struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ConnectorSpec   `json:"spec,omitzero"`
	Status     ConnectorStatus `json:"status,omitzero"`
}

// ConnectorSpec is the desired state of a Connector.
type ConnectorSpec struct {
	RoutingKey          string            `json:"routingKey,omitempty"`
	Port                int               `json:"port,omitempty"`
	Selector            string            `json:"selector,omitempty"`
	Host                string            `json:"host,omitempty"`
	Type                string            `json:"type,omitempty"`
	IncludeNotReadyPods bool              `json:"includeNotReadyPods,omitempty"`
	ExposePodsByName    bool              `json:"exposePodsByName,omitempty"`
	TLSCredentials      string            `json:"tlsCredentials,omitempty"`
	UseClientCert       bool              `json:"useClientCert,omitempty"`
	VerifyHostname      bool              `json:"verifyHostname,omitempty"`
	Settings            map[string]string `json:"settings,omitempty"`
}

// ConnectorStatus is the observed state of a Connector.
type ConnectorStatus struct {
	ResourceStatus      `json:",inline"`
	HasMatchingListener bool         `json:"hasMatchingListener,omitempty"`
	SelectedPods        []PodDetails `json:"selectedPods,omitempty"`
}

// PodDetails names a selected workload (Kubernetes only; kept for compatibility).
type PodDetails struct {
	UID  string `json:"uid,omitempty"`
	Name string `json:"name,omitempty"`
	IP   string `json:"ip,omitempty"`
}

// ---- RouterAccess

// Router roles a RouterAccess may declare.
const (
	RoleInterRouter = "inter-router"
	RoleEdge        = "edge"
	RoleNormal      = "normal"
)

// RouterAccess configures secure access to the site router (link access).
type RouterAccess struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       RouterAccessSpec   `json:"spec,omitzero"`
	Status     RouterAccessStatus `json:"status,omitzero"`
}

// RouterAccessSpec is the desired state of a RouterAccess.
type RouterAccessSpec struct {
	AccessType              string             `json:"accessType,omitempty"`
	Roles                   []RouterAccessRole `json:"roles,omitempty"`
	TLSCredentials          string             `json:"tlsCredentials,omitempty"`
	GenerateTLSCredentials  bool               `json:"generateTlsCredentials,omitempty"`
	Issuer                  string             `json:"issuer,omitempty"`
	BindHost                string             `json:"bindHost,omitempty"`
	SubjectAlternativeNames []string           `json:"subjectAlternativeNames,omitempty"`
	Settings                map[string]string  `json:"settings,omitempty"`
}

// RouterAccessRole is a named router interface and its port (0: allocated).
type RouterAccessRole struct {
	Name string `json:"name"`
	Port int    `json:"port,omitempty"`
}

// RouterAccessStatus is the observed state of a RouterAccess.
type RouterAccessStatus struct {
	ResourceStatus `json:",inline"`
	Endpoints      []Endpoint `json:"endpoints,omitempty"`
}

// ---- AccessGrant

// AccessGrant permits redeeming access tokens for links to this site.
type AccessGrant struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       AccessGrantSpec   `json:"spec,omitzero"`
	Status     AccessGrantStatus `json:"status,omitzero"`
}

// AccessGrant defaults.
const (
	DefaultRedemptionsAllowed = 1
	DefaultExpirationWindow   = "15m"
)

// AccessGrantSpec is the desired state of an AccessGrant.
type AccessGrantSpec struct {
	RedemptionsAllowed int               `json:"redemptionsAllowed,omitempty"`
	ExpirationWindow   string            `json:"expirationWindow,omitempty"`
	Code               string            `json:"code,omitempty"`
	Issuer             string            `json:"issuer,omitempty"`
	Settings           map[string]string `json:"settings,omitempty"`
}

// AccessGrantStatus is the observed state of an AccessGrant.
type AccessGrantStatus struct {
	ResourceStatus `json:",inline"`
	Redemptions    int    `json:"redemptions,omitempty"`
	ExpirationTime string `json:"expirationTime,omitempty"`
	URL            string `json:"url,omitempty"`
	CA             string `json:"ca,omitempty"`
	Code           string `json:"code,omitempty"`
}

// ---- AccessToken

// AccessToken is a short-lived credential redeemed for a Link.
type AccessToken struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       AccessTokenSpec   `json:"spec,omitzero"`
	Status     AccessTokenStatus `json:"status,omitzero"`
}

// AccessTokenSpec is the desired state of an AccessToken.
type AccessTokenSpec struct {
	URL      string            `json:"url,omitempty"`
	Code     string            `json:"code,omitempty"`
	CA       string            `json:"ca,omitempty"`
	LinkCost int               `json:"linkCost,omitempty"`
	Settings map[string]string `json:"settings,omitempty"`
}

// AccessTokenStatus is the observed state of an AccessToken.
type AccessTokenStatus struct {
	ResourceStatus `json:",inline"`
	Redeemed       bool `json:"redeemed,omitempty"`
}

// ---- AttachedConnector

// AttachedConnector is a connector that lives in a workload namespace and
// attaches to the site of another namespace (named by SiteNamespace). On
// Linux a namespace is a directory, so the workload namespace may hold no
// Site at all. The target server is given by Host (Linux) and Port.
type AttachedConnector struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       AttachedConnectorSpec   `json:"spec,omitzero"`
	Status     AttachedConnectorStatus `json:"status,omitzero"`
}

// AttachedConnectorSpec is the desired state of an AttachedConnector.
// Host, UseClientCert and VerifyHostname mirror Connector for platforms
// without pod selectors.
type AttachedConnectorSpec struct {
	SiteNamespace       string            `json:"siteNamespace,omitempty"`
	Port                int               `json:"port,omitempty"`
	Selector            string            `json:"selector,omitempty"`
	Host                string            `json:"host,omitempty"`
	IncludeNotReadyPods bool              `json:"includeNotReadyPods,omitempty"`
	TLSCredentials      string            `json:"tlsCredentials,omitempty"`
	UseClientCert       bool              `json:"useClientCert,omitempty"`
	VerifyHostname      bool              `json:"verifyHostname,omitempty"`
	Settings            map[string]string `json:"settings,omitempty"`
}

// AttachedConnectorStatus is the observed state of an AttachedConnector.
type AttachedConnectorStatus struct {
	ResourceStatus `json:",inline"`
	SelectedPods   []PodDetails `json:"selectedPods,omitempty"`
}

// ---- AttachedConnectorBinding

// AttachedConnectorBinding lives in the site namespace and binds the
// AttachedConnector of the same name in ConnectorNamespace to a routing key.
type AttachedConnectorBinding struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       AttachedConnectorBindingSpec   `json:"spec,omitzero"`
	Status     AttachedConnectorBindingStatus `json:"status,omitzero"`
}

// AttachedConnectorBindingSpec is the desired state of a binding.
type AttachedConnectorBindingSpec struct {
	ConnectorNamespace string            `json:"connectorNamespace,omitempty"`
	RoutingKey         string            `json:"routingKey,omitempty"`
	ExposePodsByName   bool              `json:"exposePodsByName,omitempty"`
	Settings           map[string]string `json:"settings,omitempty"`
}

// AttachedConnectorBindingStatus is the observed state of a binding.
type AttachedConnectorBindingStatus struct {
	ResourceStatus      `json:",inline"`
	HasMatchingListener bool `json:"hasMatchingListener,omitempty"`
}

// ---- Secret (core v1)

// SecretTypeTLS is the type of Secrets that carry TLS material.
const SecretTypeTLS = "kubernetes.io/tls"

// Secret keys of a TLS bundle.
const (
	SecretKeyCA   = "ca.crt"
	SecretKeyCert = "tls.crt"
	SecretKeyKey  = "tls.key"
)

// Secret is the core v1 Secret as emitted by `skupper link generate` and by
// grant servers: TLS credentials for a Link. Data values are base64;
// StringData values are plain text and win over Data.
type Secret struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	Data       map[string]string `json:"data,omitempty"`
	StringData map[string]string `json:"stringData,omitempty"`
	Immutable  bool              `json:"immutable,omitempty"`
}
