# Throughput vs producer threads: median with min..max bars, one line per impl.
load 'reports/common.gp'
set logscale x 2
set logscale y
set format y '%.0s%c'
set xlabel 'producer threads'
set ylabel 'recorded events/s (log)'
set xrange [0.8:*]
plot for [i=0:nimpl-1] datafile using 1:(column(2+3*i)):(column(3+3*i)):(column(4+3*i)) \
    with yerrorlines lw 2 pt 7 title columnheader(2+3*i)
