# Snapshot cost per event: collect / encode / compress / write stacked, total beside.
load 'reports/common.gp'
set ylabel 'ns per event'
set style data histogram
set style histogram rowstacked
set style fill solid 0.8 border -1
set boxwidth 0.6
set yrange [0:*]
set xtics rotate by -30
plot datafile using 2:xtic(1) title 'collect', '' using 3 title 'encode', \
    '' using 4 title 'compress', '' using 5 title 'write+fsync+rename', \
    '' using 0:6 with points pt 7 ps 1.5 lc rgb 'black' title 'total (ttlog_snapshot)'
