//! Notifications over TLS: mail to an SMTP server that speaks TLS from the first byte
//! (`smtps://`), SMS to an `https://` gateway, both with a certificate of a private authority
//! the portal is told to trust (`--tls-ca-file`). Without that trust, nothing is delivered and
//! nothing is lost: the notifications wait, with the reason, until the gateway can be trusted.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::helpers::{App, create_user_with, on_both_backends, register_company};
use crate::identity::{PASSWORD, arrived, post, sign_in, smtp_dialogue};

on_both_backends!(notifications_go_over_tls_to_trusted_servers_only);

type Received<T> = Arc<std::sync::Mutex<Vec<T>>>;

/// A certificate for `localhost`, signed by itself: the "private authority" of the test.
fn certificate() -> (String, TlsAcceptor) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let der = CertificateDer::from(made.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("a server config");
    (made.cert.pem(), TlsAcceptor::from(Arc::new(config)))
}

/// An SMTP server that speaks TLS from the first byte; records each message's text.
async fn smtps_server(acceptor: TlsAcceptor) -> (u16, Received<String>) {
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("an address").port();
    let record = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, record) = (acceptor.clone(), Arc::clone(&record));
            tokio::spawn(async move {
                // A client that does not trust the certificate hangs up in the handshake.
                if let Ok(stream) = acceptor.accept(socket).await {
                    smtp_dialogue(stream, record).await;
                }
            });
        }
    });
    (port, received)
}

/// An SMS gateway on https: reads one HTTP/1.1 request per connection, records its JSON body.
async fn https_gateway(acceptor: TlsAcceptor) -> (u16, Received<Value>) {
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("an address").port();
    let record = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, record) = (acceptor.clone(), Arc::clone(&record));
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(socket).await else { return };
                let mut stream = BufReader::new(stream);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end().to_ascii_lowercase();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(value) = line.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                if stream.read_exact(&mut body).await.is_err() {
                    return;
                }
                if let (Ok(value), Ok(mut record)) = (serde_json::from_slice(&body), record.lock()) {
                    record.push(value);
                }
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                let _ = stream.get_mut().write_all(answer).await;
                let _ = stream.get_mut().shutdown().await;
            });
        }
    });
    (port, received)
}

async fn notifications_go_over_tls_to_trusted_servers_only(mut app: App) {
    let (pem, acceptor) = certificate();
    let ca_file = app.data_dir().join("private-ca.pem");
    std::fs::write(&ca_file, &pem).expect("write the CA file");
    let ca_file = ca_file.to_string_lossy().into_owned();
    let (smtp_port, mails) = smtps_server(acceptor.clone()).await;
    let (sms_port, texts) = https_gateway(acceptor).await;
    let smtp_url = format!("smtps://localhost:{smtp_port}");
    let sms_url = format!("https://localhost:{sms_port}/sms");
    app.restart_with(&["--smtp-url", &smtp_url, "--sms-webhook-url", &sms_url, "--tls-ca-file", &ca_file])
        .await;

    // The invitation arrives by mail over TLS, and its token activates the account.
    let company = register_company(&app, "Secure Mail Ltd").await;
    app.ok(
        "SetCompanyPolicies",
        json!({ "companyId": company.id, "passwordPolicy": { "requireTwoFactor": true } }),
    )
    .await;
    create_user_with(&app, &company, "tia", json!({ "approved": true, "mobile": "+44 7911 123459" })).await;
    let mail = arrived(&mails, 1, "the invitation over smtps").await;
    assert!(mail.contains("To: tia@example.com"), "{mail}");
    let token =
        mail.lines().find_map(|line| line.strip_prefix("Your code: ")).map(str::trim).expect("a token");
    let activated =
        post(&app, "/commands/ActivateAccount", json!({ "token": token, "password": PASSWORD }), None).await;
    assert_eq!(activated.status, 200, "{:#}", activated.body);

    // The sign-in PIN arrives at the https gateway, and signs in.
    let first = sign_in(&app, "tia", PASSWORD).await;
    assert_eq!(first.body["channel"], "SMS", "{:#}", first.body);
    let sms = arrived(&texts, 1, "the PIN over https").await;
    assert_eq!(sms["to"], "+447911123459");
    let pin: String = sms["text"].as_str().unwrap_or_default().chars().take(6).collect();
    let verified =
        post(&app, "/auth/verify", json!({ "challengeId": first.body["challengeId"], "pin": pin }), None)
            .await;
    assert_eq!(verified.status, 200, "{:#}", verified.body);

    // Without the private authority, the certificate is not trusted: nothing goes out, and the
    // notification waits with the reason instead of being lost.
    app.restart_with(&["--smtp-url", &smtp_url, "--sms-webhook-url", &sms_url]).await;
    create_user_with(&app, &company, "ugo", json!({ "approved": true })).await;
    let mut pending = Value::Null;
    for _ in 0..100 {
        let listed = app
            .query(
                "{ notifications(to: \"ugo@example.com\") { attempts deliveredAt lastError } }",
                json!(null),
            )
            .await;
        pending = listed["notifications"][0].clone();
        if pending["attempts"].as_i64().unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(pending["deliveredAt"], Value::Null, "{pending:#}");
    let reason = pending["lastError"].as_str().unwrap_or_default().to_ascii_lowercase();
    assert!(reason.contains("certificate") || reason.contains("tls"), "{pending:#}");
    assert_eq!(mails.lock().map(|m| m.len()).unwrap_or(0), 1, "no mail went to the untrusted server");
}
