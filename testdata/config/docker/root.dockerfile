FROM alpine:3.20
RUN adduser -D app
USER app
RUN apk add --no-cache curl
USER root
CMD ["sh"]
