//! TLS for every user's client: one rustls configuration for the run (so 10,000 users do
//! not load the system's root certificates 10,000 times), trusting the system's roots, a
//! scenario's CA file, or, with `tls_verify: false`, anything.

use std::sync::Arc;

use crate::scenario::{HttpDefaults, HttpVersion};

use crate::engine::EngineError;

/// A certificate verifier that accepts anything (`tls_verify: false`, said in the report).
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub(super) fn tls_config(
    defaults: &HttpDefaults,
    https: bool,
) -> Result<rustls::ClientConfig, EngineError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::Tls(e.to_string()))?;
    let mut cfg = if !defaults.tls_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else if let Some(ca) = &defaults.ca_file {
        // The system's roots and the file's certificates (checked when it was loaded).
        let extra = ca
            .certs
            .iter()
            .map(|c| rustls::pki_types::CertificateDer::from(c.clone()));
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
            .map_err(|e| {
                EngineError::Tls(format!(
                    "trusting the certificates of {}: {e}",
                    ca.path.display()
                ))
            })?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    } else {
        use rustls_platform_verifier::BuilderVerifierExt;
        match builder.clone().with_platform_verifier() {
            Ok(b) => b.with_no_client_auth(),
            // Without system roots plain HTTP still works; HTTPS cannot be verified.
            Err(e) if https => {
                return Err(EngineError::Tls(format!(
                    "loading the system's root certificates: {e}"
                )));
            }
            Err(_) => builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        }
    };
    cfg.alpn_protocols = match defaults.http_version {
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(cfg)
}
