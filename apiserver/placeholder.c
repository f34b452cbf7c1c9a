/* placeholder */
typedef int api_placeholder_t;
