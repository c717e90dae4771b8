/* The C interface is implemented in Swift (Sources/CollectivesC); this file only lets SwiftPM
 * build include/ as the module of collectives.h, so that the Swift side uses its very enums. */
#include "collectives.h"
