/* mock.h — placeholder until the bossdb-mock module lands (issue [1/6]). */
#ifndef MTP_MOCK_H
#define MTP_MOCK_H
int mtp_mock_placeholder(void);
#endif
