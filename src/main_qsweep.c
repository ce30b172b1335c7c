/* placeholder until the CLI lands */
#include <stdio.h>
int main(void) { puts("qsweep"); return 0; }
