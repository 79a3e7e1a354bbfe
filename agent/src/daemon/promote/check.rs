//! A promotion check: an HTTP GET that must answer 2xx (and contain `expect`, when set),
//! its outcome said without the URL, which may carry a token.

use crate::promotion::gate::CheckOutcome;
use std::time::Duration;

pub(super) async fn http_check(c: &crate::environment::HttpCheck) -> CheckOutcome {
    let timeout = c
        .timeout
        .as_ref()
        .map_or(Duration::from_secs(5), |t| t.get());
    let name = c.url.clone();
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            return CheckOutcome {
                name,
                passed: false,
                message: format!("cannot make an HTTP client: {e}"),
            }
        }
    };
    match client.get(&c.url).send().await {
        Err(e) => CheckOutcome {
            name,
            passed: false,
            message: format!("no answer: {}", without_url(&e)),
        },
        Ok(resp) => {
            let code = resp.status();
            let body = resp.text().await.unwrap_or_default();
            let contains = c.expect.as_deref().is_none_or(|x| body.contains(x));
            let passed = code.is_success() && contains;
            let message = match (code.is_success(), contains, &c.expect) {
                (false, _, _) => format!("HTTP {}", code.as_u16()),
                (true, false, Some(x)) => {
                    format!("HTTP {}, the body does not contain {x:?}", code.as_u16())
                }
                (true, _, Some(x)) => format!("HTTP {}, contains {x:?}", code.as_u16()),
                (true, _, None) => format!("HTTP {}", code.as_u16()),
            };
            CheckOutcome {
                name,
                passed,
                message,
            }
        }
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "the check's URL");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// One HTTP server on 127.0.0.1 answering every request with `status` and `body`.
    fn serve(status: &str, body: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ready", listener.local_addr().unwrap());
        let status = status.to_string();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten().take(1) {
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        url
    }

    #[tokio::test]
    async fn a_check_passes_on_2xx_with_the_expected_body_and_says_why_not_otherwise() {
        // (status, body, expect, passed, the message)
        let table = [
            ("200 OK", "{}", None, true, "HTTP 200"),
            (
                "200 OK",
                "{}",
                Some("{}"),
                true,
                "HTTP 200, contains \"{}\"",
            ),
            (
                "200 OK",
                "{}",
                Some("sextant"),
                false,
                "HTTP 200, the body does not contain \"sextant\"",
            ),
            ("503 Service Unavailable", "", None, false, "HTTP 503"),
        ];
        for (status, body, expect, passed, message) in table {
            let url = serve(status, body);
            let check = crate::environment::HttpCheck {
                url: url.clone(),
                expect: expect.map(str::to_string),
                timeout: None,
            };
            let o = http_check(&check).await;
            assert_eq!(
                (o.passed, o.message.as_str()),
                (passed, message),
                "{status} {expect:?}"
            );
            assert_eq!(o.name, url);
        }
    }

    #[tokio::test]
    async fn a_check_no_one_answers_fails_without_its_url_in_the_message() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/ready?token=s3cret");
        let check = crate::environment::HttpCheck {
            url,
            expect: None,
            timeout: sextant_core::duration::Span::parse("2s"),
        };
        let o = http_check(&check).await;
        assert!(!o.passed);
        assert!(o.message.starts_with("no answer"), "{}", o.message);
        assert!(!o.message.contains("s3cret"), "{}", o.message);
    }
}
