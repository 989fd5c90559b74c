//! Per-row predicates of the two detections: the EventID and process gates, CIDR exclusion, the sysmon gate, CIM fills and the noargs regex.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::event::Values;

/// Which destination ranges the network mode excludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidrSet {
    /// The seed search: `dest_ip!=10.0.0.0/8 dest_ip!=172.16.0.0/12 dest_ip!=192.168.0.0/16`.
    Rfc1918,
    /// ESCU v15's `NOT dest_ip IN (<23 IPv4 ranges>)` plus IPv6 `::1/128`, `fe80::/10`, `fc00::/7`.
    Extended,
}

const RFC1918: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

const EXTENDED: [&str; 26] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "192.0.0.0/24",
    "192.0.0.0/29",
    "192.0.0.8/32",
    "192.0.0.9/32",
    "192.0.0.10/32",
    "192.0.0.170/32",
    "192.0.0.171/32",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "224.0.0.0/4",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
];

/// The parsed ranges of a [`CidrSet`] and the SPL operator that applies them.
#[derive(Debug, Clone)]
pub struct DestFilter {
    set: CidrSet,
    nets: Vec<IpNet>,
}

impl DestFilter {
    /// Parses the ranges of `set`.
    pub fn new(set: CidrSet) -> DestFilter {
        let list: &[&str] = match set {
            CidrSet::Rfc1918 => &RFC1918,
            CidrSet::Extended => &EXTENDED,
        };
        let nets = list.iter().filter_map(|n| n.parse().ok()).collect();
        DestFilter { set, nets }
    }

    /// Whether `net` holds the address `value` parsed to (never, for a value
    /// that is not an address).
    fn contains(net: &IpNet, addr: Option<IpAddr>) -> bool {
        addr.is_some_and(|addr| net.contains(&addr))
    }

    /// True when the destination values pass the exclusion.
    ///
    /// `rfc1918` reproduces three ANDed `dest_ip!=<cidr>` terms: for a
    /// multivalue field each term holds when any value lies outside that
    /// range. `extended` reproduces `NOT dest_ip IN (...)`: no value may lie
    /// in any range. For one value both read "outside every range". Values
    /// that are not IP addresses (hostnames, `-`) are outside every range,
    /// and `::ffff:a.b.c.d` is IPv6, so no IPv4 range contains it.
    ///
    /// An absent (or empty) `dest_ip` fails `rfc1918`, as SPL's
    /// `field!=value` is false when the field is absent (DETECTIONS.md
    /// §8(i)), so such an event is *filtered*; it passes `extended`, as
    /// `NOT field IN (...)` is true, and then joins no group for the missing
    /// BY field.
    pub(crate) fn passes(&self, dest_ip: &Values<'_>) -> bool {
        // Each value is parsed once, whatever the number of ranges.
        match (self.set, dest_ip) {
            (CidrSet::Rfc1918, Values::One(v)) => {
                let addr = ip(v);
                self.nets.iter().all(|net| !Self::contains(net, addr))
            }
            (CidrSet::Rfc1918, _) => {
                let addrs: Vec<Option<IpAddr>> = dest_ip.iter().map(ip).collect();
                self.nets
                    .iter()
                    .all(|net| addrs.iter().any(|&a| !Self::contains(net, a)))
            }
            (CidrSet::Extended, _) => !dest_ip.any(|v| {
                let addr = ip(v);
                self.nets.iter().any(|net| Self::contains(net, addr))
            }),
        }
    }
}

/// The address `value` parses to as `IpAddr`'s `FromStr` parses it: a plain
/// dotted quad read here, byte by byte (on A-network the UTF-8 check and
/// std's parser were about 365 of the 600 instructions this filter took a
/// row),
/// anything else by std.
fn ip(value: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = plain_ipv4(value) {
        return Some(IpAddr::V4(v4));
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Four octets of 1 to 3 digits, at most 255 and with no leading zero,
/// between three dots: a form std's parser reads to the same address.
/// `None` for anything else, which std then reads (or refuses) itself.
fn plain_ipv4(value: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut at = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if value.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let start = at;
        let mut n = 0u16;
        while let Some(&d) = value.get(at).filter(|d| d.is_ascii_digit()) {
            if at - start == 3 {
                return None;
            }
            n = n * 10 + u16::from(d - b'0');
            at += 1;
        }
        if at == start || (at - start > 1 && value[start] == b'0') {
            return None;
        }
        *octet = u8::try_from(n).ok()?;
    }
    (at == value.len()).then_some(Ipv4Addr::from(octets))
}

/// `field=value` in SPL `search`: whole value, ASCII case-insensitive, any value of a multivalue field.
pub(crate) fn equals(values: &Values<'_>, wanted: &str) -> bool {
    values.any(|v| v.eq_ignore_ascii_case(wanted.as_bytes()))
}

/// Sources the ESCU `sysmon` macro selects (compared case-insensitively).
pub const SYSMON_SOURCETYPE: &str = "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational";
/// See [`SYSMON_SOURCETYPE`].
pub const SYSMON_SOURCES: [&str; 2] = [
    "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
    "Syslog:Linux-Sysmon/Operational",
];

/// The `sysmon` macro as a gate over `sourcetype` and `source`.
pub(crate) fn sysmon(sourcetype: &Values<'_>, source: &Values<'_>) -> bool {
    equals(sourcetype, SYSMON_SOURCETYPE) || SYSMON_SOURCES.iter().any(|s| equals(source, s))
}

/// CIM Endpoint data-model fill for `dest`, `user`, `process`, `parent_process`:
/// `if(isnull(x) OR x="","unknown",x)`.
pub(crate) fn unknown_if_null(v: Values<'_>) -> Values<'_> {
    if v.is_null() {
        Values::One(b"unknown")
    } else {
        v
    }
}

/// CIM Endpoint fill for `process_name` from `process` (and `parent_process_name`
/// from `parent_process`): the value if present, else
/// `replace(process,"^\s*([^\s]+).*","\1")`, else `unknown`.
pub(crate) fn name_from_command_line<'a>(
    name: Values<'a>,
    command_line: &Values<'a>,
) -> Values<'a> {
    if !name.is_null() {
        return name;
    }
    if command_line.is_null() {
        return Values::One(b"unknown");
    }
    let list = command_line
        .iter()
        .map(|cmd| Cow::Owned(first_token(cmd)))
        .collect();
    Values::from_list(list)
}

/// `replace(x,"^\s*([^\s]+).*","\1")`: PCRE `.` stops at a newline, so text
/// after the first newline survives the replacement.
fn first_token(cmd: &[u8]) -> Vec<u8> {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c');
    let lead = cmd.iter().take_while(|b| is_space(b)).count();
    let token_len = cmd[lead..].iter().take_while(|b| !is_space(b)).count();
    if token_len == 0 {
        return cmd.to_vec();
    }
    let token = &cmd[lead..lead + token_len];
    let rest = &cmd[lead + token_len..];
    let tail = match rest.iter().position(|&b| b == b'\n') {
        Some(nl) => &rest[nl..],
        None => &[][..],
    };
    [token, tail].concat()
}

/// CIM Endpoint fill for `vendor_product`, the data model's expression:
/// `case(isnotnull(vendor_product),vendor_product, <vendor and product known>,vendor." ".product,
/// <vendor known>,vendor." unknown", <product known>,"unknown ".product,
/// isnotnull(sourcetype),sourcetype, 1=1,"unknown")`, where "known" is
/// not null and not the (case-sensitive) string `unknown`.
pub(crate) fn vendor_product<'a>(
    vendor_product: Values<'a>,
    vendor: &Values<'a>,
    product: &Values<'a>,
    sourcetype: &Values<'a>,
) -> Values<'a> {
    if !vendor_product.is_null() {
        return vendor_product;
    }
    let known = |v: &Values<'a>| {
        v.iter()
            .next()
            .filter(|x| *x != b"unknown")
            .map(<[u8]>::to_vec)
    };
    let owned = match (known(vendor), known(product)) {
        (Some(v), Some(p)) => [v, b" ".to_vec(), p].concat(),
        (Some(v), None) => [v, b" unknown".to_vec()].concat(),
        (None, Some(p)) => [b"unknown ".to_vec(), p].concat(),
        (None, None) => match sourcetype.iter().next() {
            Some(st) => st.to_vec(),
            None => return Values::One(b"unknown"),
        },
    };
    Values::from_list(vec![Cow::Owned(owned)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::bytes::Regex;

    use crate::detect::spec::Binary;

    proptest::proptest! {
        // The dotted-quad fast path reads every input as std's parser does.
        #[test]
        fn addresses_parse_as_std_parses_them(
            text in proptest::string::string_regex("[0-9.:a-f]{0,18}").unwrap(),
            octets in proptest::array::uniform4(0u16..300),
            zero in proptest::bool::ANY,
        ) {
            let std = |t: &str| t.parse::<IpAddr>().ok();
            proptest::prop_assert_eq!(ip(text.as_bytes()), std(&text));
            let quad = octets.map(|o| o.to_string()).join(".");
            let quad = if zero { format!("0{quad}") } else { quad };
            proptest::prop_assert_eq!(ip(quad.as_bytes()), std(&quad));
        }
    }

    fn one(s: &str) -> Values<'_> {
        Values::one(s.as_bytes())
    }

    fn many<'a>(list: &[&'a str]) -> Values<'a> {
        Values::from_list(list.iter().map(|s| Cow::Borrowed(s.as_bytes())).collect())
    }

    #[test]
    fn rfc1918_edges() {
        let f = DestFilter::new(CidrSet::Rfc1918);
        let cases = [
            ("10.0.0.1", false),
            ("10.255.255.255", false),
            ("11.0.0.1", true),
            ("9.255.255.255", true),
            ("172.15.255.255", true),
            ("172.16.0.0", false),
            ("172.31.255.255", false),
            ("172.32.0.0", true),
            ("192.168.0.1", false),
            ("192.169.0.1", true),
            ("192.167.255.255", true),
            ("8.8.8.8", true),
            ("127.0.0.1", true),
            ("::1", true),
            ("fe80::1", true),
            ("::ffff:10.0.0.1", true),
            ("2001:db8::1", true),
            ("not-an-ip", true),
            ("-", true),
            ("10.0.0.1 ", true),
        ];
        for (ip, kept) in cases {
            assert_eq!(f.passes(&one(ip)), kept, "{ip}");
        }
    }

    #[test]
    fn extended_set_adds_v15_ranges_and_ipv6_private() {
        let f = DestFilter::new(CidrSet::Extended);
        let cases = [
            ("127.0.0.1", false),
            ("169.254.1.1", false),
            ("100.64.0.1", false),
            ("100.128.0.1", true),
            ("224.0.0.251", false),
            ("255.255.255.255", false),
            ("198.18.0.1", false),
            ("198.20.0.1", true),
            ("203.0.113.9", false),
            ("::1", false),
            ("fe80::1", false),
            ("fd00::1", false),
            ("2001:db8::1", true),
            ("::ffff:10.0.0.1", true),
            ("8.8.8.8", true),
            ("172.32.0.1", true),
        ];
        for (ip, kept) in cases {
            assert_eq!(f.passes(&one(ip)), kept, "{ip}");
        }
    }

    #[test]
    fn multivalue_dest_ip_follows_each_operator() {
        let mixed = many(&["10.1.1.1", "192.168.1.1"]);
        // Each != term finds some value outside its own range.
        assert!(DestFilter::new(CidrSet::Rfc1918).passes(&mixed));
        assert!(!DestFilter::new(CidrSet::Extended).passes(&mixed));
        let both_ten = many(&["10.1.1.1", "10.2.2.2"]);
        assert!(!DestFilter::new(CidrSet::Rfc1918).passes(&both_ten));
        let public_and_private = many(&["8.8.8.8", "10.1.1.1"]);
        assert!(DestFilter::new(CidrSet::Rfc1918).passes(&public_and_private));
        assert!(!DestFilter::new(CidrSet::Extended).passes(&public_and_private));
    }

    #[test]
    fn process_name_is_whole_value_and_ascii_case_insensitive() {
        assert!(equals(&one("RegSvcs.exe"), "regsvcs.exe"));
        assert!(equals(&one("REGSVCS.EXE"), "regsvcs.exe"));
        assert!(!equals(&one("regsvcs.exe "), "regsvcs.exe"));
        assert!(!equals(&one("xregsvcs.exe"), "regsvcs.exe"));
        assert!(!equals(&one("C:\\Windows\\regsvcs.exe"), "regsvcs.exe"));
        assert!(!equals(&Values::Null, "regsvcs.exe"));
        assert!(equals(&many(&["cmd.exe", "RegSvcs.exe"]), "regsvcs.exe"));
        // Non-ASCII case folding is not applied (the long s does not fold to s).
        assert!(!equals(&one("regſvcs.exe"), "regsvcs.exe"));
    }

    #[test]
    fn noargs_regex_vectors() {
        let re = Regex::new(Binary::Regsvcs.noargs_pattern()).unwrap();
        let cases = [
            (
                r"C:\Windows\Microsoft.NET\Framework\v4.0.30319\RegSvcs.exe",
                true,
            ),
            (
                r#""C:\Windows\Microsoft.NET\Framework\v4.0.30319\RegSvcs.exe""#,
                true,
            ),
            (r#""C:\Windows\RegSvcs.exe"  "#, true),
            (r#""C:\Windows\RegSvcs.exe"     "#, false),
            ("RegSvcs.exe /u", true),
            ("RegSvcs.exe /u x", false),
            ("regsvcs.exe\r\n", true),
            ("regsvcs.exe\n", true),
            ("regsvcs.exe\n\n", false),
            ("regsvcs.exe\nx", false),
            ("unknown", false),
            ("null", false),
            (
                r#""C:\Windows\Microsoft.NET\Framework\v4.0.30319\regsvcs.exe" T1121.dll"#,
                false,
            ),
            ("REGSVCS.EXE", true),
            ("regsvcs.exe.exe", true),
            ("regsvcs.exeabcd", true),
            ("regsvcs.exeabcde", false),
            ("regsvcs.exeéééé", true),
            ("regsvcs.exe\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}", false),
            ("regsvcsXexe", false),
        ];
        for (process, matched) in cases {
            assert_eq!(re.is_match(process.as_bytes()), matched, "{process:?}");
        }
        let regasm = Regex::new(Binary::Regasm.noargs_pattern()).unwrap();
        assert!(regasm.is_match(br#""C:\x\RegAsm.exe""#));
        assert!(!regasm.is_match(b"RegAsm.exe payload.dll"));
    }

    #[test]
    fn sysmon_gate_matches_the_macro() {
        assert!(sysmon(
            &one("xmlwineventlog:microsoft-windows-sysmon/operational"),
            &Values::Null
        ));
        assert!(sysmon(
            &one("XmlWinEventLog"),
            &one("XmlWinEventLog:Microsoft-Windows-Sysmon/Operational")
        ));
        assert!(sysmon(
            &Values::Null,
            &one("Syslog:Linux-Sysmon/Operational")
        ));
        assert!(!sysmon(
            &one("XmlWinEventLog"),
            &one("WinEventLog:Security")
        ));
        assert!(!sysmon(&Values::Null, &Values::Null));
    }

    #[test]
    fn cim_fills() {
        assert_eq!(unknown_if_null(Values::Null), one("unknown"));
        assert_eq!(unknown_if_null(one("h")), one("h"));
        let from = |cmd: &str| {
            let v = name_from_command_line(Values::Null, &one(cmd));
            let first = v.iter().next().unwrap().to_vec();
            first
        };
        assert_eq!(from("  regsvcs.exe /u x"), b"regsvcs.exe");
        assert_eq!(from(r#""C:\a b\x.exe" y"#), br#""C:\a"#);
        assert_eq!(from("a b\nc d"), b"a\nc d");
        assert_eq!(
            name_from_command_line(Values::Null, &Values::Null),
            one("unknown")
        );
        assert_eq!(name_from_command_line(one("n"), &one("c")), one("n"));
        let vp = |v, p, st| {
            let out = vendor_product(Values::Null, &v, &p, &st);
            let first = out.iter().next().unwrap().to_vec();
            first
        };
        assert_eq!(
            vp(one("Microsoft"), one("Sysmon"), Values::Null),
            b"Microsoft Sysmon"
        );
        assert_eq!(
            vp(Values::Null, Values::Null, one("XmlWinEventLog")),
            b"XmlWinEventLog"
        );
        assert_eq!(vp(Values::Null, Values::Null, Values::Null), b"unknown");
    }
}
