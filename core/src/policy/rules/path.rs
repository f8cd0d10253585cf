//! Lexical path normalisation and path patterns, for `kind: path` rules.
//!
//! Normalisation never touches the filesystem:
//! - `\` counts as `/`;
//! - a `file:` URI (scheme case-insensitive; `file:///p`, `file://localhost/p`,
//!   `file:/p`) becomes its path: query and fragment dropped, then
//!   percent-decoded (only URIs are percent-decoded, never plain paths); a
//!   URI naming another host becomes `//host/p`, i.e. `/host/p`; `/C:/x`
//!   (and `file://C:/x`) becomes `C:/x`;
//! - empty and `.` segments go (so repeated and trailing `/` go);
//! - `..` removes the segment before it; an absolute path never goes above
//!   `/` (`/..` is `/`), a Windows drive (`C:`) is never removed, and a
//!   relative path keeps its leading `..`s.
//!
//! Patterns are normalised the same way, then each segment is a name pattern
//! (`*` any run within the segment, `?` one character) except a segment that
//! is exactly `**`, which matches zero or more whole segments. The root of an
//! absolute path counts as a segment of its own that only an absolute
//! pattern's root or a `**` can match: so `/etc/**` matches `/etc` and all
//! below it, `**/.ssh/**` matches `/home/u/.ssh/id_rsa` and `.ssh/x`, and an
//! absolute pattern never matches a relative path.
//!
//! A rule with an absolute pattern goes further: a value that is not fully
//! qualified ([`NormalPath::qualified`]: relative, `~`, `C:foo`, UNC or
//! device paths, NTFS streams, segments ending in a dot or a space, leading
//! or trailing whitespace) fails it, deny-only rules included, since the
//! server, not the policy, decides which file such a value names.
//!
//! `caseInsensitive: true` on a path rule makes segment comparisons ignore
//! case (Unicode simple case folding per character); `**` and the root are
//! unaffected.

use super::glob::Glob;
use percent_encoding::percent_decode_str;
use std::borrow::Cow;

/// A normalised path: whether it starts at the root, and its segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NormalPath<'a> {
    pub(crate) absolute: bool,
    pub(crate) segments: Vec<Cow<'a, str>>,
    /// Written from a root: a leading `/` or `\`, or a drive and one
    /// (`C:/`, `C:\`). Patterns written so are "absolute patterns".
    pub(crate) rooted: bool,
    /// Names one file whatever the server's working directory, roots and
    /// operating system: rooted, and none of the forms a server resolves
    /// or rewrites on its own (see [`is_fully_qualified`]).
    pub(crate) qualified: bool,
}

impl NormalPath<'_> {
    /// The path as a string: `/a/b`, `a/b`, `/`, or `.` for the empty
    /// relative path.
    #[cfg(test)]
    pub(crate) fn to_path_string(&self) -> String {
        let joined = self
            .segments
            .iter()
            .map(|s| s.as_ref())
            .collect::<Vec<_>>()
            .join("/");
        match (self.absolute, joined.is_empty()) {
            (true, _) => format!("/{joined}"),
            (false, true) => ".".to_owned(),
            (false, false) => joined,
        }
    }
}

impl NormalPath<'_> {
    /// The path as one string for a combined matcher: each item followed
    /// by `/`, the root being an empty item (`/etc/x` is `/etc/x/`, `a/b`
    /// is `a/b/`). Segments never hold `/` or `\\`, nor are they empty, so
    /// items stay apart (see [`PathPattern::write_regex`]).
    pub(crate) fn matching_text(&self) -> String {
        let len = self.segments.iter().map(|s| s.len() + 1).sum::<usize>();
        let mut text = String::with_capacity(len + 1);
        if self.absolute {
            text.push('/');
        }
        for segment in &self.segments {
            text.push_str(segment);
            text.push('/');
        }
        text
    }
}

/// Normalises `input` lexically (see the module doc).
pub(crate) fn normalize(input: &str) -> NormalPath<'_> {
    match file_uri_path(input) {
        Some(decoded) => {
            let n = normalize_plain(&decoded);
            NormalPath {
                absolute: n.absolute,
                segments: n
                    .segments
                    .into_iter()
                    .map(|s| Cow::Owned(s.into_owned()))
                    .collect(),
                rooted: n.rooted,
                qualified: n.qualified,
            }
        }
        None => normalize_plain(input),
    }
}

fn is_drive(segment: &str) -> bool {
    let b = segment.as_bytes();
    b.len() == 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

fn normalize_plain(input: &str) -> NormalPath<'_> {
    let absolute = input.starts_with(['/', '\\']);
    let mut segments: Vec<Cow<'_, str>> = Vec::new();
    // Segments that `..` may not remove: a leading Windows drive.
    let mut floor = 0usize;
    for segment in input.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                if segments.len() > floor && segments.last().map(|s| s.as_ref()) != Some("..") {
                    segments.pop();
                } else if !absolute && floor == 0 {
                    segments.push(Cow::Borrowed(".."));
                }
            }
            _ => {
                if !absolute && segments.is_empty() && floor == 0 && is_drive(segment) {
                    floor = 1;
                }
                segments.push(Cow::Borrowed(segment));
            }
        }
    }
    NormalPath {
        absolute,
        segments,
        rooted: root_len(input).is_some(),
        qualified: is_fully_qualified(input),
    }
}

fn is_separator(b: u8) -> bool {
    b == b'/' || b == b'\\'
}

/// The length of `raw`'s root (`/`, `\`, `C:/`, `C:\`), `None` when it has
/// none.
fn root_len(raw: &str) -> Option<usize> {
    let b = raw.as_bytes();
    match b {
        [first, ..] if is_separator(*first) => Some(1),
        [drive, b':', sep, ..] if drive.is_ascii_alphabetic() && is_separator(*sep) => Some(3),
        _ => None,
    }
}

/// True when `raw` (a plain path, or a `file:` URI's decoded path) names one
/// file whatever the server's working directory or roots, on any OS. Not
/// so, and so failing every rule with absolute patterns:
/// - no root: relative paths, `~…` (a shell's home), drive-relative `C:foo`;
/// - two leading separators: UNC (`\\server\share`) and device paths
///   (`\\?\…`, `\\.\…`);
/// - a `:` after the drive: NTFS streams (`name:stream`, `name::$DATA`);
/// - a segment ending in a dot or whitespace, which Windows drops
///   (`secret.` opens `secret`); this covers trailing whitespace too, and
///   leading whitespace leaves no root.
fn is_fully_qualified(raw: &str) -> bool {
    let Some(root) = root_len(raw) else {
        return false;
    };
    let b = raw.as_bytes();
    if b.get(1).copied().is_some_and(is_separator) {
        return false;
    }
    // One pass (this runs for every path value checked): a `:` anywhere
    // after the root, or a segment other than `.`/`..` ending in a dot or
    // whitespace, disqualifies.
    let mut start = root;
    for i in root..=b.len() {
        let c = b.get(i).copied().unwrap_or(b'/');
        if c == b':' {
            return false;
        }
        if !is_separator(c) {
            continue;
        }
        let segment = &raw[start..i];
        start = i + 1;
        if matches!(segment, "" | "." | "..") {
            continue;
        }
        let ends_badly = match segment.as_bytes()[segment.len() - 1] {
            b'.' => true,
            last if last.is_ascii() => last.is_ascii_whitespace() || last == 0x0b,
            _ => segment.chars().next_back().is_some_and(char::is_whitespace),
        };
        if ends_badly {
            return false;
        }
    }
    true
}

/// The path a `file:` URI names, percent-decoded; `None` when `input` is
/// not a `file:` URI.
fn file_uri_path(input: &str) -> Option<String> {
    let scheme = input.get(..5)?;
    if !scheme.eq_ignore_ascii_case("file:") {
        return None;
    }
    let mut rest = &input[5..];
    if let Some(end) = rest.find(['?', '#']) {
        rest = &rest[..end];
    }
    let raw: Cow<'_, str> = match rest.strip_prefix("//") {
        Some(after) => {
            let (host, path) = match after.find('/') {
                Some(i) => after.split_at(i),
                None => (after, ""),
            };
            if host.is_empty() || host.eq_ignore_ascii_case("localhost") {
                Cow::Borrowed(path)
            } else if is_drive(host) {
                // `file://C:/x`, a common mistake for `file:///C:/x`.
                Cow::Owned(format!("{host}{path}"))
            } else {
                Cow::Owned(format!("//{host}{path}"))
            }
        }
        None => Cow::Borrowed(rest),
    };
    let decoded = percent_decode_str(&raw).decode_utf8_lossy().into_owned();
    // `file:///C:/x` names `C:/x`.
    let b = decoded.as_bytes();
    if b.len() >= 3
        && b[0] == b'/'
        && b[1].is_ascii_alphabetic()
        && b[2] == b':'
        && (b.len() == 3 || b[3] == b'/' || b[3] == b'\\')
    {
        return Some(decoded[1..].to_owned());
    }
    Some(decoded)
}

/// A compiled path pattern.
#[derive(Debug, Clone)]
pub(crate) struct PathPattern {
    tokens: Box<[PathToken]>,
    rooted: bool,
}

#[derive(Debug, Clone)]
enum PathToken {
    /// The root of an absolute path.
    Root,
    /// `**`: zero or more tokens.
    AnySegments,
    /// One segment.
    Segment(Glob),
}

/// What a normalised path is made of, for matching.
#[derive(Clone, Copy)]
enum PathItem<'a> {
    Root,
    Segment(&'a str),
}

impl PathPattern {
    pub(crate) fn new(pattern: &str, case_insensitive: bool) -> Self {
        let n = normalize(pattern);
        let mut tokens = Vec::with_capacity(n.segments.len() + 1);
        if n.absolute {
            tokens.push(PathToken::Root);
        }
        for segment in &n.segments {
            if segment == "**" {
                if !matches!(tokens.last(), Some(PathToken::AnySegments)) {
                    tokens.push(PathToken::AnySegments);
                }
            } else {
                tokens.push(PathToken::Segment(Glob::new(segment, case_insensitive)));
            }
        }
        Self {
            tokens: tokens.into_boxed_slice(),
            rooted: n.rooted,
        }
    }

    /// Written from a root (`/…`, `C:/…`): it names files by absolute path.
    pub(crate) fn is_absolute(&self) -> bool {
        self.rooted
    }

    /// The pattern as regex syntax over [`NormalPath::matching_text`] (no
    /// anchors): the same paths match. Each item of the path ends in `/`:
    /// the root is the empty item, `**` any run of items, the root
    /// included, a name pattern one non-empty item.
    pub(crate) fn write_regex(&self, out: &mut String) {
        for token in self.tokens.iter() {
            match token {
                PathToken::Root => out.push('/'),
                PathToken::AnySegments => out.push_str("(?:(?-u:[^/])*/)*"),
                PathToken::Segment(glob) => {
                    glob.write_regex(out, true);
                    out.push('/');
                }
            }
        }
    }

    /// True when the (already normalised) path matches the whole pattern.
    pub(crate) fn matches(&self, path: &NormalPath<'_>) -> bool {
        let offset = usize::from(path.absolute);
        let len = path.segments.len() + offset;
        let item = |i: usize| {
            if i < offset {
                PathItem::Root
            } else {
                PathItem::Segment(path.segments[i - offset].as_ref())
            }
        };
        let tokens = &self.tokens;
        let (mut p, mut i) = (0usize, 0usize);
        let mut resume: Option<(usize, usize)> = None;
        loop {
            if let Some(token) = tokens.get(p) {
                if let PathToken::AnySegments = token {
                    p += 1;
                    resume = Some((p, i));
                    continue;
                }
                if i < len {
                    let ok = match (token, item(i)) {
                        (PathToken::Root, PathItem::Root) => true,
                        (PathToken::Segment(pat), PathItem::Segment(s)) => pat.matches(s),
                        _ => false,
                    };
                    if ok {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            } else if i == len {
                return true;
            }
            match resume {
                Some((rp, ri)) if ri < len => {
                    resume = Some((rp, ri + 1));
                    p = rp;
                    i = ri + 1;
                }
                _ => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s).to_path_string()
    }

    fn m(pattern: &str, path: &str) -> bool {
        PathPattern::new(pattern, false).matches(&normalize(path))
    }

    #[test]
    fn normalisation_table() {
        let table = [
            ("/srv/data/../../etc/passwd", "/etc/passwd"),
            ("/etc/passwd", "/etc/passwd"),
            ("file:///etc/passwd", "/etc/passwd"),
            ("FILE:///etc/passwd", "/etc/passwd"),
            ("file://localhost/etc/%2e%2e/x", "/x"),
            ("file://LocalHost/etc/passwd", "/etc/passwd"),
            ("file:/etc/passwd", "/etc/passwd"),
            ("file:///etc/pass%20wd", "/etc/pass wd"),
            ("file:///etc%2Fpasswd", "/etc/passwd"),
            ("file:///etc/passwd?x=1#frag", "/etc/passwd"),
            ("file://server/share/x", "/server/share/x"),
            ("file:///C:/Users/u", "C:/Users/u"),
            ("file:///c:", "c:"),
            ("file://C:/Windows/x", "C:/Windows/x"),
            ("file://localhost/C:/x/../y", "C:/y"),
            ("/etc/%2e%2e/passwd", "/etc/%2e%2e/passwd"),
            ("C:\\x\\y", "C:/x/y"),
            ("C:\\x\\..\\..\\..\\Windows", "C:/Windows"),
            ("\\etc\\passwd", "/etc/passwd"),
            ("//etc///passwd", "/etc/passwd"),
            ("./a/./b/.", "a/b"),
            ("/etc/", "/etc"),
            ("/etc//", "/etc"),
            ("/", "/"),
            ("//", "/"),
            ("/..", "/"),
            ("/../../etc", "/etc"),
            ("../a", "../a"),
            ("../../a/../b", "../../b"),
            ("a/../../b", "../b"),
            ("a/..", "."),
            ("", "."),
            (".", "."),
            ("..", ".."),
            ("a/b/../c/", "a/c"),
            ("file:x/y", "x/y"),
            ("files/x", "files/x"),
            ("ünï/cødé", "ünï/cødé"),
        ];
        for (input, want) in table {
            assert_eq!(norm(input), want, "normalising {input:?}");
        }
    }

    #[test]
    fn rooted_and_fully_qualified() {
        // (value, rooted, fully qualified)
        let table = [
            ("/srv/a", true, true),
            ("/", true, true),
            ("\\srv\\a", true, true),
            ("C:/x", true, true),
            ("c:\\x\\..\\y", true, true),
            ("file:///C:/x", true, true),
            ("file:///etc/passwd", true, true),
            ("/a/./b/../c", true, true),
            ("srv/a", false, false),
            ("", false, false),
            ("~/a", false, false),
            (" /a", false, false),
            ("/a ", true, false),
            ("/a\t", true, false),
            ("C:x", false, false),
            ("C:", false, false),
            ("//server/share", true, false),
            ("\\\\?\\C:\\x", true, false),
            ("\\\\.\\pipe\\x", true, false),
            ("file://server/share", true, false),
            ("/a/b:stream", true, false),
            ("C:\\a::$DATA", true, false),
            ("/a./b", true, false),
            ("/a /b", true, false),
            ("/a/b...", true, false),
        ];
        for (value, rooted, qualified) in table {
            let n = normalize(value);
            assert_eq!((n.rooted, n.qualified), (rooted, qualified), "{value:?}");
        }
    }

    #[test]
    fn plain_paths_borrow() {
        let n = normalize("/a/b/../c");
        assert!(n.segments.iter().all(|s| matches!(s, Cow::Borrowed(_))));
    }

    #[test]
    fn traversal_is_resolved_before_matching() {
        assert!(m("/etc/**", "/srv/data/../../etc/passwd"));
        assert!(!m("/srv/data/**", "/srv/data/../../etc/passwd"));
        assert!(m("/etc/**", "file:///etc/passwd"));
        assert!(m("/x", "file://localhost/etc/%2e%2e/x"));
        assert!(m("/etc/**", "\\etc\\shadow"));
    }

    #[test]
    fn double_star_is_zero_or_more_segments() {
        assert!(m("/etc/**", "/etc"));
        assert!(m("/etc/**", "/etc/"));
        assert!(m("/etc/**", "/etc/passwd"));
        assert!(m("/etc/**", "/etc/ssh/sshd_config"));
        assert!(!m("/etc/**", "/etcetera"));
        assert!(!m("/etc/**", "/"));
        assert!(m("/**", "/"));
        assert!(m("/**", "/anything/below"));
        assert!(m("**", "/abs"));
        assert!(m("**", "rel/x"));
        assert!(m("**", ""));
        assert!(m("/a/**/b", "/a/b"));
        assert!(m("/a/**/b", "/a/x/y/b"));
        assert!(!m("/a/**/b", "/a/x/y/c"));
        assert!(m("/a/**/**/b", "/a/b"));
        assert!(m("/a/**/b/**/c", "/a/1/b/2/b/3/c"));
    }

    #[test]
    fn relative_double_star_prefix_matches_absolute_and_relative() {
        assert!(m("**/.ssh/**", "/home/u/.ssh/id_rsa"));
        assert!(m("**/.ssh/**", ".ssh/x"));
        assert!(m("**/.ssh/**", "/.ssh"));
        assert!(m("**/.ssh/**", "C:\\Users\\u\\.ssh\\id"));
        assert!(!m("**/.ssh/**", "/home/u/ssh/id_rsa"));
        assert!(!m("**/.ssh/**", "/home/u/.sshx/id_rsa"));
    }

    #[test]
    fn absolute_and_relative_do_not_mix() {
        assert!(!m("/srv/data/**", "srv/data/x"));
        assert!(!m("/srv/data/**", "x"));
        assert!(!m("/srv/data/**", "../srv/data/x"));
        assert!(!m("srv/data/**", "/srv/data/x"));
        assert!(m("srv/data/**", "srv/data/x"));
        assert!(m("srv/data/**", "./srv/data/x/"));
    }

    #[test]
    fn single_star_and_question_mark_stay_within_a_segment() {
        assert!(m("/etc/*", "/etc/passwd"));
        assert!(!m("/etc/*", "/etc"));
        assert!(!m("/etc/*", "/etc/ssh/sshd_config"));
        assert!(m("/home/*/.ssh/*", "/home/u/.ssh/id_rsa"));
        assert!(m("/tmp/*.log", "/tmp/a.log"));
        assert!(m("/tmp/*.log", "/tmp/.log"));
        assert!(!m("/tmp/*.log", "/tmp/a/b.log"));
        assert!(m("/tmp/?.txt", "/tmp/a.txt"));
        assert!(!m("/tmp/?.txt", "/tmp/ab.txt"));
        assert!(!m("/tmp/?", "/tmp/"));
        assert!(!m("/*", "/"));
    }

    #[test]
    fn patterns_are_normalised_too() {
        assert!(m("/srv/./data/../data//**/", "/srv/data/x"));
        assert!(m("\\srv\\data\\**", "/srv/data/x"));
        assert!(m("file:///srv/data/**", "/srv/data/x"));
        assert!(m("C:\\data\\**", "C:/data/x.txt"));
        assert!(m("C:/data/**", "file:///C:/data/x.txt"));
        assert!(!m("C:/data/**", "C:/Windows/x"));
    }

    #[test]
    fn case_sensitivity() {
        assert!(!m("/etc/**", "/ETC/passwd"));
        let ci = PathPattern::new("/etc/**", true);
        assert!(ci.matches(&normalize("/ETC/passwd")));
        assert!(ci.matches(&normalize("/Etc")));
        let ci = PathPattern::new("c:/Users/*/.SSH/**", true);
        assert!(ci.matches(&normalize("C:\\users\\U\\.ssh\\id")));
    }

    #[test]
    fn literal_root_and_empty() {
        assert!(m("/", "/"));
        assert!(m("/", "/.."));
        assert!(!m("/", "."));
        assert!(m(".", ""));
        assert!(m(".", "a/.."));
        assert!(!m(".", "/"));
    }

    #[test]
    fn no_exponential_backtracking() {
        let pattern = format!("/{}x", "**/a/".repeat(20));
        let path = format!("/{}", "a/".repeat(3000));
        let t = std::time::Instant::now();
        assert!(!m(&pattern, &path));
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }
}
