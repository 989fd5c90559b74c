#!/usr/bin/env python3
"""The two regsvcs detections as a splunklib ReportingCommand: the yardstick for `make bench-sdk`.

The same selection and `stats count min(_time) max(_time) by ...` as
regsvcsdetect, written plainly on top of splunk-sdk's chunked protocol
support, the way a Splunk app developer would write it in Python. It reads
the same unprojected request streams as the binary, on stdin.
"""

import ipaddress
import itertools
import re
import sys
import time

from splunklib.searchcommands import Configuration, Option, ReportingCommand, dispatch

NETWORK_BY = [
    "action", "app", "dest", "dest_ip", "dest_port", "direction", "dvc", "protocol",
    "protocol_version", "src", "src_ip", "src_port", "transport", "user", "vendor_product",
    "process_name", "process_exec", "process_guid", "process_id",
]
NOARGS_BY = [
    "action", "dest", "original_file_name", "parent_process", "parent_process_exec",
    "parent_process_guid", "parent_process_id", "parent_process_name", "parent_process_path",
    "process", "process_exec", "process_guid", "process_hash", "process_id",
    "process_integrity_level", "process_name", "process_path", "user", "user_id",
    "vendor_product",
]
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
NOARGS_RE = re.compile(r"(?i:regsvcs\.exe)[^\n]{0,4}\n?\Z")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")


def values(record, name, prefixes):
    """The values of a field (prefixed names win), empty ones dropped."""
    for key in [p + name for p in prefixes] + [name]:
        v = record.get(key)
        if v is None or v == "" or v == []:
            continue
        vs = v if isinstance(v, list) else [v]
        vs = [x for x in vs if x != ""]
        if vs:
            return vs
    return []


def number(v):
    return float(v) if NUMBER.match(v) else None


def sort_key(row):
    return [(0, number(v), v) if number(v) is not None else (1, 0.0, v) for v in row]


def in_net(v, net):
    try:
        ip = ipaddress.ip_address(v)
    except ValueError:
        return False
    return ip.version == net.version and ip in net


@Configuration()
class RegsvcsSdk(ReportingCommand):
    mode = Option(require=False, default="network")
    tz = Option(require=False)

    def reduce(self, records):
        # splunklib calls reduce once per execute chunk: the groups live
        # across calls and go out with the final chunk, as `stats` does.
        network = self.mode == "network"
        by = NETWORK_BY if network else NOARGS_BY
        prefixes = ["All_Traffic.", "Processes."] if network else ["Processes.", "All_Traffic."]
        if not hasattr(self, "groups"):
            self.groups = {}
        groups = self.groups
        for r in records:
            v = {f: values(r, f, prefixes) for f in by}
            count = values(r, "count", [])
            pre = len(count) == 1 and number(count[0]) is not None
            if network:
                if not pre and "3" not in values(r, "EventID", []):
                    continue
                if not any(p.lower() == "regsvcs.exe" for p in v["process_name"]):
                    continue
                # dest_ip!=<net> for each net: some value lies outside it.
                if v["dest_ip"] and not all(
                    any(not in_net(x, n) for x in v["dest_ip"]) for n in PRIVATE
                ):
                    continue
                if any(not v[f] for f in by):
                    continue
            else:
                if not (any(p.lower() == "regsvcs.exe" for p in v["process_name"])
                        or any(p.lower() == "regsvcs.exe" for p in v["original_file_name"])):
                    continue
                for f in by:
                    if not v[f]:
                        v[f] = ["null"]
                v["process"] = [p for p in v["process"] if NOARGS_RE.search(p)]
                if not v["process"]:
                    continue
            if pre:
                n = number(count[0])
                firsts = [number(t) for t in values(r, "firstTime", [])]
                lasts = [number(t) for t in values(r, "lastTime", [])]
            else:
                n = 1.0
                firsts = lasts = [number(t) for t in values(r, "_time", [])]
            first = min([t for t in firsts if t is not None], default=None)
            last = max([t for t in lasts if t is not None], default=None)
            for key in itertools.product(*(v[f] for f in by)):
                g = groups.get(key)
                if g is None:
                    groups[key] = [n, first, last]
                else:
                    g[0] += n
                    if first is not None:
                        g[1] = first if g[1] is None else min(g[1], first)
                    if last is not None:
                        g[2] = last if g[2] is None else max(g[2], last)

        if not self._finished:
            return

        def ctime(t):
            return "" if t is None else time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))

        for key in sorted(groups, key=sort_key):
            n, first, last = groups[key]
            row = dict(zip(by, key))
            row["count"] = int(n) if n == int(n) else n
            row["firstTime"] = ctime(first)
            row["lastTime"] = ctime(last)
            yield row


dispatch(RegsvcsSdk, sys.argv, sys.stdin, sys.stdout, __name__)
