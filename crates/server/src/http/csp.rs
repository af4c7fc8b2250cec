//! The pages' Content-Security-Policy: only our own origin, except that a provider whose buyers
//! pay in the browser adds exactly the origins its script needs. For Stripe those are the ones
//! Stripe documents for Stripe.js and the Payment Element (scripts and frames from
//! `js.stripe.com` and its subdomains, 3-D Secure frames from `hooks.stripe.com`, API calls to
//! `api.stripe.com`); for the sandbox's stand-in, its one origin.

use boxoffice_payments::BrowserCheckout;

const STRIPE_JS_ORIGIN: &str = "https://js.stripe.com";

/// The policy for the pages, given what the payment provider needs in the browser.
pub(crate) fn policy(browser: Option<&BrowserCheckout>) -> String {
    let (script, frame, connect) = match browser.and_then(|b| origin(&b.js_url)) {
        None => (String::new(), String::new(), String::new()),
        Some(o) if o == STRIPE_JS_ORIGIN => (
            " https://js.stripe.com https://*.js.stripe.com".to_owned(),
            "; frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com"
                .to_owned(),
            " https://api.stripe.com".to_owned(),
        ),
        Some(o) => (format!(" {o}"), format!("; frame-src {o}"), format!(" {o}")),
    };
    format!(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'{script}; \
         connect-src 'self'{connect}{frame}; frame-ancestors 'none'"
    )
}

/// `scheme://host[:port]` of a URL, or `None` when it has no such prefix.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains(['\'', ';', ' ', ',']) {
        return None;
    }
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn browser(js_url: &str) -> BrowserCheckout {
        BrowserCheckout {
            publishable_key: "pk_test_x".into(),
            js_url: js_url.into(),
        }
    }

    #[test]
    fn without_a_browser_provider_everything_is_our_own_origin() {
        let p = policy(None);
        assert!(p.contains("script-src 'self';"));
        assert!(!p.contains("frame-src"));
        assert!(!p.contains("http"));
    }

    #[test]
    fn stripe_adds_exactly_its_documented_origins() {
        let p = policy(Some(&browser("https://js.stripe.com/v3/")));
        assert!(p.contains("script-src 'self' https://js.stripe.com https://*.js.stripe.com;"));
        assert!(p.contains(
            "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com;"
        ));
        assert!(p.contains("connect-src 'self' https://api.stripe.com"));
        assert!(p.contains("default-src 'self';"));
    }

    #[test]
    fn the_sandbox_stand_in_adds_its_one_origin() {
        let p = policy(Some(&browser("http://127.0.0.1:4010/v3/")));
        assert!(p.contains("script-src 'self' http://127.0.0.1:4010;"));
        assert!(p.contains("frame-src http://127.0.0.1:4010;"));
        assert!(!p.contains("stripe.com"));
    }

    #[test]
    fn a_url_that_could_smuggle_directives_adds_nothing() {
        assert_eq!(
            policy(Some(&browser("http://a; script-src *"))),
            policy(None)
        );
        assert_eq!(policy(Some(&browser("javascript:alert(1)"))), policy(None));
    }
}
