package certs

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Summary describes one certificate for diagnostics (status messages, logs,
// the CLI). It never holds key material.
type Summary struct {
	Subject     string    // RFC 2253 form, e.g. "CN=skupper-site-ca"
	Issuer      string    // RFC 2253 form
	DNSNames    []string  // DNS SANs as written in the certificate
	IPs         []string  // IP SANs in text form
	NotBefore   time.Time // UTC
	NotAfter    time.Time // UTC
	IsCA        bool      // basicConstraints CA:TRUE
	ExtKeyUsage []string  // OpenSSL short names ("serverAuth", "clientAuth", ...) or dotted OIDs
	SerialHex   string    // lower-case hexadecimal, no separators
}

// Summarize describes every certificate in certPEM, in order. PEM blocks of
// other types (such as a private key in a combined file) are skipped and never
// looked into. It fails if a certificate block cannot be parsed or if there is
// no certificate at all.
func Summarize(certPEM []byte) ([]Summary, error) {
	var out []Summary
	rest := certPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("summarize certificate %d: %w", len(out)+1, err)
		}
		out = append(out, summarize(c))
	}
	if len(out) == 0 {
		return nil, errors.New("summarize: no certificate found in PEM data")
	}
	return out, nil
}

func summarize(c *x509.Certificate) Summary {
	s := Summary{
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
		IsCA:      isCA(c),
		SerialHex: c.SerialNumber.Text(16),
	}
	if len(c.DNSNames) > 0 {
		s.DNSNames = append([]string(nil), c.DNSNames...)
	}
	for _, ip := range c.IPAddresses {
		s.IPs = append(s.IPs, ip.String())
	}
	for _, eku := range c.ExtKeyUsage {
		s.ExtKeyUsage = append(s.ExtKeyUsage, extKeyUsageName(eku))
	}
	for _, oid := range c.UnknownExtKeyUsage {
		s.ExtKeyUsage = append(s.ExtKeyUsage, oid.String())
	}
	return s
}

var extKeyUsageNames = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:                            "anyExtendedKeyUsage",
	x509.ExtKeyUsageServerAuth:                     "serverAuth",
	x509.ExtKeyUsageClientAuth:                     "clientAuth",
	x509.ExtKeyUsageCodeSigning:                    "codeSigning",
	x509.ExtKeyUsageEmailProtection:                "emailProtection",
	x509.ExtKeyUsageIPSECEndSystem:                 "ipsecEndSystem",
	x509.ExtKeyUsageIPSECTunnel:                    "ipsecTunnel",
	x509.ExtKeyUsageIPSECUser:                      "ipsecUser",
	x509.ExtKeyUsageTimeStamping:                   "timeStamping",
	x509.ExtKeyUsageOCSPSigning:                    "OCSPSigning",
	x509.ExtKeyUsageMicrosoftServerGatedCrypto:     "msSGC",
	x509.ExtKeyUsageNetscapeServerGatedCrypto:      "nsSGC",
	x509.ExtKeyUsageMicrosoftCommercialCodeSigning: "msCodeCom",
	x509.ExtKeyUsageMicrosoftKernelCodeSigning:     "msKernelCodeSigning",
}

func extKeyUsageName(eku x509.ExtKeyUsage) string {
	if n, ok := extKeyUsageNames[eku]; ok {
		return n
	}
	return fmt.Sprintf("ExtKeyUsage(%d)", int(eku))
}
