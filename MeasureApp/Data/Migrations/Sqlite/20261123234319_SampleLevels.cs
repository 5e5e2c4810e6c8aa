using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MeasureApp.Data.Migrations.Sqlite
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
                    measurement_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    level = table.Column<int>(type: "INTEGER", nullable: false),
                    seq = table.Column<long>(type: "INTEGER", nullable: false),
                    first_index = table.Column<long>(type: "INTEGER", nullable: false),
                    sample_count = table.Column<long>(type: "INTEGER", nullable: false),
                    channel_count = table.Column<int>(type: "INTEGER", nullable: false),
                    data = table.Column<byte[]>(type: "BLOB", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_sample_levels", x => new { x.measurement_id, x.level, x.seq });
                });

            migrationBuilder.CreateIndex(
                name: "IX_sample_levels_measurement_id_level_first_index",
                table: "sample_levels",
                columns: new[] { "measurement_id", "level", "first_index" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "sample_levels");
        }
    }
}
