//! Page tokens: a token the pager issued for a listing's filters
//! round-trips; the same token with other filters, under another key, or
//! altered in any way is refused; and any text the pager accepts is exactly
//! a token it would issue. Page sizes are checked, defaulted and capped.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use reemploi_runtime::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Pager};
use uuid::Uuid;

/// The characters of a page token (URL-safe base64), and one that is not.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=";

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let key: Vec<u8> = u.arbitrary()?;
    let filters: String = u.arbitrary()?;
    let other_filters: String = u.arbitrary()?;
    let last = Uuid::from_bytes(u.arbitrary()?).to_string();
    let size: i32 = u.arbitrary()?;
    let forged: String = u.arbitrary()?;
    let pager = Pager::new(&key);

    match pager.page(size, "", &filters) {
        Err(v) => {
            assert!(size < 0, "size {size} refused");
            assert_eq!(v.field, "page_size");
        }
        Ok(page) => {
            let want = match usize::try_from(size) {
                Ok(0) => DEFAULT_PAGE_SIZE,
                Ok(n) => n.min(MAX_PAGE_SIZE),
                Err(_) => panic!("negative size {size} accepted"),
            };
            assert_eq!(page.size, want);
            assert_eq!(page.after, None);
        }
    }

    let first = pager.page(10, "", &filters).unwrap();
    let token = first.next_token(&last);
    let next = pager.page(10, &token, &filters).unwrap();
    assert_eq!(next.after.as_deref(), Some(last.as_str()));
    // The next page's token for the same id is the same token.
    assert_eq!(next.next_token(&last), token);

    if other_filters != filters {
        let v = pager.page(10, &token, &other_filters).err();
        assert!(
            v.is_some_and(|v| v.field == "page_token"),
            "a token for {filters:?} accepted for {other_filters:?}"
        );
    }
    let mut other_key = key.clone();
    other_key.push(1);
    assert!(Pager::new(&other_key).page(10, &token, &filters).is_err());

    // Any text accepted is a token the pager issues.
    if let Ok(page) = pager.page(10, &forged, &filters) {
        match page.after {
            None => assert!(forged.is_empty()),
            Some(id) => assert_eq!(first.next_token(&id), forged, "accepted, never issued"),
        }
    }

    // An altered token is refused.
    let mut altered = token.clone().into_bytes();
    let at = u.choose_index(altered.len())?;
    match u.int_in_range(0..=3u8)? {
        0 => altered[at] = *u.choose(ALPHABET)?,
        1 => altered.truncate(at),
        2 => altered.insert(at, *u.choose(ALPHABET)?),
        _ => {
            let other = u.choose_index(altered.len())?;
            altered.swap(at, other);
        }
    }
    let altered = String::from_utf8(altered).unwrap();
    if altered.is_empty() {
        // Cut to nothing, it asks for the first page, as no token does.
        assert_eq!(pager.page(10, &altered, &filters).unwrap().after, None);
    } else if altered != token {
        assert!(
            pager.page(10, &altered, &filters).is_err(),
            "altered token {altered:?} (issued {token:?}) accepted"
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    // Running out of bytes ends the case early; it is not a failure.
    let _ = run(&mut Unstructured::new(data));
});
