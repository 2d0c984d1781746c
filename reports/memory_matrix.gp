# Bytes per event in the ring slot, in CBOR, after LZ4, by fields x string size.
load 'reports/common.gp'
set ylabel 'bytes per event'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -45
set yrange [0:*]
plot datafile using 2:xtic(1) title 'ring slot', '' using 3 title 'CBOR', \
    '' using 4 title 'LZ4 file'
