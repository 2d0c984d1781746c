#include "internal.h"
void ttlog__recover_peers(void) {}
