#!/usr/bin/env python3
"""Prints, one a line, the installed Debian packages that a minimal Debian image already holds.

The runtime image starts from debian:bookworm-slim, which is Debian's minimal base: every
package of priority "required" (and every Essential one) with whatever they depend on. That
set is read here from dpkg's own database of this machine (a Debian 12 machine, as the image),
so the install test can tell a library the base image brings from one that
packaging/runtime-packages.txt must name.
"""
import re
import subprocess
import sys

FIELDS = "${Package}\t${Essential}\t${Priority}\t${Pre-Depends}\t${Depends}\t${Provides}\t${db:Status-Abbrev}\n"


def names(field):
    """The alternatives of each dependency in a Depends-like field, without versions or arch."""
    groups = []
    for group in field.split(","):
        alternatives = [re.sub(r"\s*\(.*?\)|:\w+|\s*\[.*?\]", "", a).strip() for a in group.split("|")]
        alternatives = [a for a in alternatives if a]
        if alternatives:
            groups.append(alternatives)
    return groups


def main():
    listing = subprocess.run(["dpkg-query", "-W", "-f", FIELDS], check=True,
                             capture_output=True, text=True).stdout
    installed, provided_by, roots = {}, {}, []
    for line in listing.splitlines():
        package, essential, priority, pre_depends, depends, provides, status = line.split("\t")
        if not status.startswith("ii"):
            continue
        installed[package] = names(pre_depends) + names(depends)
        for virtual in names(provides):
            provided_by.setdefault(virtual[0], package)
        if essential == "yes" or priority == "required":
            roots.append(package)

    base, todo = set(), list(roots)
    while todo:
        package = todo.pop()
        if package in base:
            continue
        base.add(package)
        for alternatives in installed.get(package, []):
            # apt takes the first alternative that can be had; here, the first one installed.
            for name in alternatives:
                real = name if name in installed else provided_by.get(name)
                if real:
                    todo.append(real)
                    break
    if not base:
        sys.exit("base_packages.py: dpkg reports no required package: is this Debian?")
    print("\n".join(sorted(base)))


if __name__ == "__main__":
    main()
