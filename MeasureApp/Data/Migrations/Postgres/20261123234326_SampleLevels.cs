using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MeasureApp.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class SampleLevels : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "sample_levels",
                columns: table => new
                {
                    measurement_id = table.Column<Guid>(type: "uuid", nullable: false),
                    level = table.Column<int>(type: "integer", nullable: false),
                    seq = table.Column<long>(type: "bigint", nullable: false),
                    first_index = table.Column<long>(type: "bigint", nullable: false),
                    sample_count = table.Column<long>(type: "bigint", nullable: false),
                    channel_count = table.Column<int>(type: "integer", nullable: false),
                    data = table.Column<byte[]>(type: "bytea", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_sample_levels", x => new { x.measurement_id, x.level, x.seq });
                });

            migrationBuilder.CreateIndex(
                name: "IX_sample_levels_measurement_id_level_first_index",
                table: "sample_levels",
                columns: new[] { "measurement_id", "level", "first_index" });

            // Float payloads barely compress: storing them out of line without pglz saves the CPU
            // that compression attempts cost on every COPY.
            migrationBuilder.Sql("ALTER TABLE sample_chunks ALTER COLUMN payload SET STORAGE EXTERNAL;");
            migrationBuilder.Sql("ALTER TABLE sample_levels ALTER COLUMN data SET STORAGE EXTERNAL;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("ALTER TABLE sample_chunks ALTER COLUMN payload SET STORAGE EXTENDED;");
            migrationBuilder.DropTable(
                name: "sample_levels");
        }
    }
}
