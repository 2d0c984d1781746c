# net.sh - sourced by the tests and the demo that run real servers on loopback
# (tests/ship/test_ship.sh, tests/ship/test_pg.sh, stress/fleet_demo.sh).

# A free port below the kernel's ephemeral range, so that while a server is down no other
# program's bind(0) or connect() can take it (a receiver there would read an agent's
# messages and close cleanly: an acknowledgement from the wrong receiver).
pick_port() {
	python3 -c 'import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    p = random.randrange(10000, min(low, 32768))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()'
}

# listens PORT PID: the listening TCP socket on PORT belongs to process PID
listens() {
	python3 -c 'import os, sys
port, pid = int(sys.argv[1]), sys.argv[2]
inodes = set()
for l in open("/proc/net/tcp").read().splitlines()[1:]:
    f = l.split()
    if f[3] == "0A" and int(f[1].split(":")[1], 16) == port:
        inodes.add("socket:[%s]" % f[9])
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        if os.readlink("/proc/%s/fd/%s" % (pid, fd)) in inodes:
            sys.exit(0)
    except OSError:
        pass
sys.exit(1)' "$1" "$2" 2>/dev/null
}
