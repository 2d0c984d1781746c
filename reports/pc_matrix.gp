# Producer/consumer matrix: grouped bars of ops/s (log scale: ck_ring collapses to ~0
# with more threads than cores), min..max as error bars.
load 'reports/common.gp'
set logscale y
set format y '%.0s%c'
set ylabel 'ops/s = pushes + pops (log)'
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set yrange [1:*]
set xtics rotate by 0
plot for [i=0:nimpl-1] datafile using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
    title columnheader(2+3*i)
